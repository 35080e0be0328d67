//go:build !windows

package main_test

// This test records `sh -c`, so it is built only where sh is (the house
// rule: platforms are told apart by build tags, not runtime.GOOS); the
// filter itself, client.RecordEnv, is unit-tested on every platform.

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestRecordEnvEndToEnd runs the real argus record against a real server:
// credential-named and credential-valued variables are left out and named
// (never their values) on stderr, the batch read back lacks them and keeps
// the rest, and --keep-env brings one back.
func TestRecordEnvEndToEnd(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	alice := e.createUser(t, "alice")
	e.serve(t)
	cl := e.client(t, alice)
	ghp := "ghp_" + strings.Repeat("a1B2", 9)
	benign := map[string]string{
		"TOKENIZERS_PARALLELISM": "false", "CUDA_VISIBLE_DEVICES": "0,1", "PYTHONHASHSEED": "0",
		"KEYBOARD_LAYOUT": "us", "SESSION_NAME": "exp-12",
	}
	secret := map[string]string{
		"AWS_SECRET_ACCESS_KEY": "aws-s3cr3t", "HF_TOKEN": "hf-s3cr3t", "WANDB_API_KEY": "wandb-s3cr3t",
		"GIT_HELPER_CRED": ghp, "COPIED": alice,
	}
	var extra []string
	for _, m := range []map[string]string{benign, secret} {
		for k, v := range m {
			extra = append(extra, k+"="+v)
		}
	}

	record := func(t *testing.T, args ...string) (env map[string]string, stderr string) {
		t.Helper()
		argv := append(append([]string{"record", "--no-run"}, args...), "--", "sh", "-c", "true")
		r := e.argus(t, e.userEnv(alice, extra...), "", argv...)
		wantOK(t, "record", r)
		b, err := cl.Batch(context.Background(), strings.TrimSpace(r.Stdout))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range secret {
			if strings.Contains(r.Stderr, v) {
				t.Fatalf("stderr shows a value: %q", r.Stderr)
			}
		}
		return b.EnvSnapshot.Env, r.Stderr
	}

	env, stderr := record(t)
	wantLine := "argus: not recorded (look like credentials): AWS_SECRET_ACCESS_KEY, COPIED, GIT_HELPER_CRED, HF_TOKEN, WANDB_API_KEY; keep one with --keep-env NAME"
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(wantLine) + `$`).MatchString(stderr) {
		t.Fatalf("stderr lacks\n%s\ngot\n%s", wantLine, stderr)
	}
	for k, v := range benign {
		if env[k] != v {
			t.Errorf("recorded %s=%q, want %q", k, env[k], v)
		}
	}
	for k := range secret {
		if _, ok := env[k]; ok {
			t.Errorf("recorded %s", k)
		}
	}

	env, stderr = record(t, "--keep-env", "HF_TOKEN")
	want := map[string]string{"HF_TOKEN": "hf-s3cr3t"}
	for k, v := range benign {
		want[k] = v
	}
	delete(env, "PATH")
	delete(env, "HOME")
	delete(env, "ARGUS_URL")
	if !reflect.DeepEqual(env, want) || strings.Contains(stderr, "HF_TOKEN") {
		t.Fatalf("with --keep-env HF_TOKEN: recorded %q, stderr %q", env, stderr)
	}
}
