package client

import (
	"reflect"
	"testing"
)

func TestSafeEnv(t *testing.T) {
	t.Parallel()
	in := []string{
		"PATH=/usr/bin:/bin",
		"HOME=/home/alice",
		"CUDA_VISIBLE_DEVICES=0,1",
		"ARGUS_TOKEN=em_live_abc",
		"GITHUB_TOKEN=ghp_x",
		"aws_secret_access_key=s",
		"DB_PASSWORD=p",
		"MYSQL_PWD_PASSWD=p",
		"API_KEY=k",
		"GOOGLE_APPLICATION_CREDENTIALS=/k.json",
		"HTTP_AUTHORIZATION=Basic x",
		"COOKIE_JAR=x",
		"TMUX_SESSION=1",
		"INNOCENT=prefix ag_live_leaked suffix",
		"NOTES=em_live_",
		"=C:=C:\\dir",
		"NOEQUALS",
		"EMPTY=",
		"WITH_EQUALS=a=b",
		"DATABASE_URL=postgres://user:pw@db.internal:5432/runs",
		"SOME_URL=https://u:pass@x",
		"EMPTY_PW_URL=https://u:@x",
		"PIP_EXTRA_INDEX_URL=https://pypi.org/simple https://bot:s3cr3t@pypi.corp/simple",
		"BROKER=amqp://guest:guest@rabbit//",
		"MIRRORS=https://a.example,redis://:hunter2@cache:6379/0",
		"DEPLOY_PEM=-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----",
		"SSL_RSA=-----BEGIN RSA PRIVATE KEY-----",
		"PLAIN_URL=https://pypi.org/simple",
		"USER_ONLY_URL=ssh://git@github.com/org/repo.git",
		"MAILTO=alice@example.com",
		"CERT=-----BEGIN CERTIFICATE-----",
		"NOT_A_URL=http://[::1",
	}
	want := map[string]string{
		"PATH":                 "/usr/bin:/bin",
		"HOME":                 "/home/alice",
		"CUDA_VISIBLE_DEVICES": "0,1",
		"EMPTY":                "",
		"WITH_EQUALS":          "a=b",
		"PLAIN_URL":            "https://pypi.org/simple",
		"USER_ONLY_URL":        "ssh://git@github.com/org/repo.git",
		"MAILTO":               "alice@example.com",
		"CERT":                 "-----BEGIN CERTIFICATE-----",
		"NOT_A_URL":            "http://[::1",
	}
	if got := SafeEnv(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("SafeEnv =\n%v\nwant\n%v", got, want)
	}
}
