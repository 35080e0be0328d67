package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/argus-exec/argus/agent"
	"github.com/argus-exec/argus/token"
)

// The user token must not show up in logs, errors or help, whatever
// happens to it (ends up in a log event, an error, the wrong flag).
func TestTokenNeverShown(t *testing.T) {
	tok := userToken(t)
	leaky := func(ctx context.Context, cfg agent.Config) {
		cfg.Logger.Error().Str("token", cfg.UserToken).Msg("sending " + cfg.UserToken)
	}
	for _, tc := range []struct {
		name string
		f    *fake
		args []string
	}{
		{"register fails, json", &fake{do: leaky, err: fmt.Errorf("server said no to %s", tok)}, []string{"--register", "--log-format", "json"}},
		{"register fails, console", &fake{do: leaky, err: errors.New("nope")}, []string{"--register", "--log-format", "console", "--log-level", "debug"}},
		{"register works", &fake{do: leaky}, []string{"--register", "--log-level", "debug"}},
		{"token as argument", &fake{}, []string{"--register", tok}},
		{"token as label", &fake{}, []string{"--register", "--label", tok + "/x"}},
		{"token as property", &fake{}, []string{"--property", tok}},
		{"help", &fake{}, []string{"--help"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ARGUS_URL", "http://h")
			args := append([]string{"--token", tok}, tc.args...)
			r := execute(tc.f, args...)
			if strings.Contains(r.stdout+r.stderr, tok) || strings.Contains(r.stdout+r.stderr, tok[len(token.User):]) {
				t.Errorf("token shown: stdout %q stderr %q", r.stdout, r.stderr)
			}
			if tc.f.do != nil && !strings.Contains(r.stderr, "em_live_[redacted]") {
				t.Errorf("the leaked log event is missing, so the test proves nothing: %q", r.stderr)
			}
		})
	}
	t.Run("help with ARGUS_TOKEN", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("ARGUS_TOKEN", tok)
		r := execute(&fake{}, "--help")
		if r.code != 0 || strings.Contains(r.stdout+r.stderr, tok) {
			t.Errorf("exit %d, token in help: %q", r.code, r.stdout)
		}
	})
}
