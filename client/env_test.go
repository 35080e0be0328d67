package client

import (
	"reflect"
	"strings"
	"testing"

	"github.com/argus-exec/argus/token"
)

// TestRecordEnvRule is the recording rule as a table: each variable alone,
// recorded or left out, with and without --keep-env naming it.
func TestRecordEnvRule(t *testing.T) {
	t.Parallel()
	userTok, err := token.New(token.User)
	if err != nil {
		t.Fatal(err)
	}
	agentTok, err := token.New(token.Agent)
	if err != nil {
		t.Fatal(err)
	}
	const (
		kept    = "kept"
		dropped = "dropped" // left out, but --keep-env brings it back
		never   = "never"   // left out even with --keep-env
	)
	// A JWT's shape: base64url JSON header, payload, signature.
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	for _, tc := range []struct{ kv, want string }{
		// Benign names the old substring rule dropped.
		{"TOKENIZERS_PARALLELISM=false", kept},
		{"TOKENIZERS_PARALLELISM=true", kept},
		{"CUDA_VISIBLE_DEVICES=0,1", kept},
		{"PYTHONHASHSEED=0", kept},
		{"KEYBOARD_LAYOUT=us", kept},
		{"SESSION_NAME=exp-12", kept},
		{"TMUX_SESSION=1", kept},
		{"MAX_TOKENS=4096", kept},
		{"HF_HOME=/data/hf", kept},
		{"WANDB_PROJECT=vision", kept},
		{"COOKIE_JAR=x", kept},
		{"GOOGLE_APPLICATION_CREDENTIALS=/etc/gcp/sa.json", kept},
		{"AUTHOR=alice", kept},
		{"PATH=/usr/bin:/bin", kept},
		{"PWD=/home/alice", kept},
		{"EMPTY=", kept},
		{"WITH_EQUALS=a=b", kept},
		{"NOTES=em_live_ is the user token prefix", kept},
		// Names that contain a credential suffix, but not as the last word.
		{"MONKEY=banana", kept},
		{"PASSAGE_DIR=/data/passages", kept},
		{"LD_LIBRARY_PATH=/usr/local/cuda/lib64", kept},
		{"SSH_CONNECTION=10.0.0.1 50022 10.0.0.2 22", kept},
		{"SSH_ASKPASS=/usr/bin/ksshaskpass", kept},
		{"OLDPWD=/home/alice/old", kept},
		{"AUTHOR_EMAIL=alice@example.com", kept},
		{"KEY_DIR=/etc/keys", kept},
		// Named like credentials, but exempt by name: paths, not secrets.
		{"google_application_credentials=/etc/gcp/sa.json", kept},
		{"GOOGLE_APPLICATION_CREDENTIALS=" + jwt, dropped}, // the value rule still holds
		// Values that name an auth scheme or a webhook without a secret.
		{"NOTE=Bearer of bad news", kept},
		{"HELP=see basic usage", kept},
		{"DOCS=https://hooks.slack.com/services/", kept},
		{"PUBLISHABLE=pk_live_" + strings.Repeat("a1", 12), kept},
		{"NOT_JWT=eyJhbGci", kept},
		// A credential's name with a switch or nothing for a value.
		{"HF_HUB_DISABLE_IMPLICIT_TOKEN=1", kept},
		{"DB_PASSWORD=", kept},
		// Credential names.
		{"ARGUS_TOKEN=not-even-a-token", never},
		{"argus_token=x", never},
		{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", dropped},
		{"AWS_SECRET_ACCESS_KEY=abc", dropped},
		{"aws_secret_access_key=abc", dropped},
		{"AWS_SESSION_TOKEN=abc", dropped},
		{"GITHUB_TOKEN=abc", dropped},
		{"GH_TOKEN=abc", dropped},
		{"HF_TOKEN=abc", dropped},
		{"HUGGING_FACE_HUB_TOKEN=abc", dropped},
		{"WANDB_API_KEY=abc", dropped},
		{"OPENAI_API_KEY=abc", dropped},
		{"ANTHROPIC_API_KEY=abc", dropped},
		{"SENTRY_AUTH_TOKEN=abc", dropped},
		{"PULUMI_ACCESS_TOKEN=abc", dropped},
		{"DB_PASSWORD=hunter2", dropped},
		{"PASSWORD=hunter2", dropped},
		{"MYSQL_PWD=hunter2", dropped},
		{"PGPASSWORD=hunter2", dropped},
		{"AZURE_CLIENT_SECRET=abc", dropped},
		{"MINIO_SECRET_KEY=abc", dropped},
		{"DEPLOY_PRIVATE_KEY=abc", dropped},
		{"GPG_PASSPHRASE=abc", dropped},
		{"SSH_AUTH_SOCK=/tmp/ssh-x/agent.1", dropped},
		{"AZURE_STORAGE_KEY=abc", dropped},
		{"KAGGLE_KEY=abc", dropped},
		{"OPENAI_KEY=abc", dropped},
		{"AZURE_OPENAI_KEY=abc", dropped},
		{"WANDB_KEY=abc", dropped},
		{"openai_key=abc", dropped},
		{"KEY=abc", dropped},
		{"DB_PASS=hunter2", dropped},
		{"DB_PWD=hunter2", dropped},
		{"NPM_CONFIG__AUTH=dXNlcjpwYXNz", dropped},
		{"GIT_AUTH=abc", dropped},
		{"GCP_CREDENTIALS={\"type\":\"service_account\"}", dropped},
		{"CREDENTIALS=abc", dropped},
		{"DB_PASS=no", kept}, // the switch exemption holds for the new suffixes too
		{"SKIP_AUTH=1", kept},
		{"WANDB_KEY=", kept},
		// Credential values, whatever the name.
		{"NOTES=prefix " + agentTok + " suffix", never},
		{"HARMLESS=" + userTok, never},
		{"DATABASE_URL=postgres://user:pw@db.internal:5432/runs", dropped},
		{"EMPTY_PW_URL=https://u:@x", dropped},
		{"PIP_EXTRA_INDEX_URL=https://pypi.org/simple https://bot:s3cr3t@pypi.corp/simple", dropped},
		{"MIRRORS=https://a.example,redis://:hunter2@cache:6379/0", dropped},
		{"DEPLOY_PEM=-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", dropped},
		{"GIT_CRED=ghp_" + strings.Repeat("a1B2", 9), dropped},
		{"HUB=hf_" + strings.Repeat("aBcDeFgHiJ", 3) + "kLmN", dropped},
		{"ID=AKIAIOSFODNN7EXAMPLE", dropped},
		{"LLM=sk-ant-api03-" + strings.Repeat("x9", 12), dropped},
		{"SLACK=xoxb-1234567890-abcdef", dropped},
		{"STRIPE_KEY=sk_live_" + strings.Repeat("4eC3", 6), dropped},
		{"BILLING=sk_live_" + strings.Repeat("4eC3", 6), dropped},
		{"BILLING=rk_live_" + strings.Repeat("4eC3", 6), dropped},
		{"BILLING=sk_test_" + strings.Repeat("4eC3", 6), dropped},
		{"AUTHORIZATION=Bearer " + strings.Repeat("Ab9-", 8), dropped},
		{"CURL_HEADER=Authorization: bearer " + strings.Repeat("Ab9.", 8), dropped},
		{"HDR=Basic dXNlcjpodW50ZXIy", dropped}, // user:hunter2
		{"SESSION=" + jwt, dropped},
		{"COOKIE=session=" + jwt + "; Path=/", dropped},
		{"SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX", dropped},
		{"ALERTS=https://discord.com/api/webhooks/123456789/abcDEF-ghi_jkl", dropped},
		{"ALERTS=https://discordapp.com/api/v10/webhooks/123456789/abcDEF", dropped},
		// Values that only resemble those.
		{"PLAIN_URL=https://pypi.org/simple", kept},
		{"USER_ONLY_URL=ssh://git@github.com/org/repo.git", kept},
		{"MAILTO=alice@example.com", kept},
		{"CERT=-----BEGIN CERTIFICATE-----", kept},
		{"NOT_A_URL=http://[::1", kept},
		{"HF_CACHE=/data/hf_cache/models", kept},
		{"SHORT=ghp_abc", kept},
		{"NAME=AKIAIOSFODNN7EXAMPLEXX", kept},
	} {
		name, value, _ := strings.Cut(tc.kv, "=")
		plain := RecordEnv([]string{tc.kv}, nil)
		withKeep := RecordEnv([]string{tc.kv}, []string{name})
		_, inPlain := plain.Env[name]
		got := kept
		switch {
		case inPlain:
		case withKeep.Env[name] == value && len(withKeep.Refused) == 0:
			got = dropped
		case reflect.DeepEqual(withKeep.Refused, []string{name}):
			got = never
		default:
			got = "inconsistent"
		}
		if got != tc.want {
			t.Errorf("%q: %s, want %s (plain %+v, with --keep-env %+v)", tc.kv, got, tc.want, plain, withKeep)
		}
		wantDropped := []string{name}
		if strings.EqualFold(name, "ARGUS_TOKEN") {
			wantDropped = nil
		}
		if !inPlain && !reflect.DeepEqual(plain.Dropped, wantDropped) || len(withKeep.Dropped) != 0 {
			t.Errorf("%q: Dropped = %q, and with --keep-env %q; want its name, then nothing", tc.kv, plain.Dropped, withKeep.Dropped)
		}
	}
}

func TestRecordEnvListsDroppedNamesSorted(t *testing.T) {
	t.Parallel()
	got := RecordEnv([]string{
		"PATH=/bin", "ARGUS_TOKEN=x", "HF_TOKEN=a", "=C:=C:\\dir", "NOEQUALS", "AWS_SECRET_ACCESS_KEY=b", "CUDA_VISIBLE_DEVICES=0", "WANDB_API_KEY=c",
	}, []string{"WANDB_API_KEY", "NOT_SET"})
	want := RecordedEnv{
		Env:     map[string]string{"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0", "WANDB_API_KEY": "c"},
		Dropped: []string{"AWS_SECRET_ACCESS_KEY", "HF_TOKEN"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RecordEnv = %+v\nwant %+v", got, want)
	}
}
