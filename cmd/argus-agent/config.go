package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"

	"github.com/argus-exec/argus/agent"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// loadConfigFile is the app's Before: when --config names a file, its
// values fill every setting that neither a flag nor an environment
// variable set. The file is checked first, so that a misspelt key is an
// error rather than a setting silently ignored.
func loadConfigFile(flags []cli.Flag) cli.BeforeFunc {
	settings := map[string]bool{}
	for _, f := range flags {
		if _, ok := f.(altsrc.FlagInputSourceExtension); ok {
			settings[f.Names()[0]] = true
		}
	}
	source := altsrc.NewYamlSourceFromFlagFunc(flagConfig)
	return func(c *cli.Context) error {
		path := c.String(flagConfig)
		if path == "" {
			return nil
		}
		if p := expandHome(path); p != path {
			path = p
			if err := c.Set(flagConfig, path); err != nil {
				return err
			}
		}
		if err := checkConfigFile(path, settings); err != nil {
			return err
		}
		isc, err := source(c)
		if err != nil {
			return fmt.Errorf("config file %s: %v", path, err)
		}
		if err := altsrc.ApplyInputSourceValues(c, isc, flags); err != nil {
			return fmt.Errorf("config file %s: %v", path, err)
		}
		return nil
	}
}

// checkConfigFile reads the YAML file at path and rejects keys that are
// not settings, and a token in a file that others can read.
func checkConfigFile(path string, settings map[string]bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config file %s does not exist", path)
	}
	if err != nil {
		return fmt.Errorf("config file: %v", err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("config file %s is not a YAML map of settings: %v", path, err)
	}
	var unknown []string
	for k := range values {
		if !settings[k] {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		names := make([]string, 0, len(settings))
		for k := range settings {
			names = append(names, k)
		}
		sort.Strings(names)
		return fmt.Errorf("config file %s: unknown setting %s (settings are named like the flags: %s)",
			path, strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	if _, ok := values[flagToken]; ok && runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("config file: %v", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("config file %s holds a token but other users can read it (mode %04o): chmod 600 %s", path, st.Mode().Perm(), path)
		}
	}
	return nil
}

// configFrom checks the settings and maps them onto agent.Config, with a
// logger on stderr or --log-file; done closes the log file once the
// agent is done with it (Windows cannot delete or rotate a file held
// open). The user token goes in only for --register and --reregister.
func configFrom(c *cli.Context, oneShot bool) (cfg agent.Config, done func(), err error) {
	done = func() {}
	if _, err := newLogger(c.String(flagLogLevel), c.String(flagLogFormat), io.Discard); err != nil {
		return agent.Config{}, done, err // a bad level or format before a log file is created
	}
	cfg, err = settingsFrom(c, oneShot)
	if err != nil {
		return cfg, done, err
	}
	w := c.App.ErrWriter
	if path := c.String(flagLogFile); path != "" {
		f, err := openLogFile(path)
		if err != nil {
			return cfg, done, err
		}
		w, done = f, func() { _ = f.Close() }
	}
	log, err := newLogger(c.String(flagLogLevel), c.String(flagLogFormat), w)
	if err != nil {
		done()
		return cfg, func() {}, err
	}
	if cfg.InsecureSkipVerify {
		log.Warn().Msg("TLS certificate verification is off (--insecure-skip-verify): anyone on the path can impersonate the server")
	}
	log.Debug().Str("url", redactURL(cfg.URL)).Str("label", cfg.Label).Str("home", cfg.Home).
		Int("properties", len(cfg.Properties)).Str("version", version).Msg("argus-agent configuration")
	cfg.Logger = log
	return cfg, done, nil
}

// openLogFile opens --log-file for appending, private to its owner: run
// output and errors can say more than other users should read. It stays
// open while the agent runs.
func openLogFile(path string) (*os.File, error) {
	abs, err := filepath.Abs(expandHome(path))
	if err != nil {
		return nil, fmt.Errorf("--log-file %s: %v", path, err)
	}
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--log-file: %v", err)
	}
	return f, nil
}

// settingsFrom checks the settings other than logging and maps them onto
// agent.Config. The user token goes in only for --register and
// --reregister.
func settingsFrom(c *cli.Context, oneShot bool) (agent.Config, error) {
	var cfg agent.Config
	label := c.String(flagLabel)
	if label != "" {
		if err := token.ValidLabel(label); err != nil {
			return cfg, err
		}
	}
	durations := map[string]time.Duration{}
	for _, name := range []string{flagGrace, flagHeartbeat, flagPollWait, flagMaxBackoff} {
		d := c.Duration(name)
		if d <= 0 {
			return cfg, fmt.Errorf("--%s %s: must be more than 0", name, d)
		}
		durations[name] = d
	}
	serverURL := strings.TrimSpace(c.String(flagURL))
	switch {
	case serverURL != "":
		if err := checkURL(serverURL); err != nil {
			return cfg, err
		}
	case oneShot:
		return cfg, errors.New("registering needs the server's URL: set ARGUS_URL (or --url)")
	}
	userToken := ""
	if oneShot {
		userToken = strings.TrimSpace(c.String(flagToken))
		if userToken == "" {
			return cfg, errors.New("registering needs a user token: set ARGUS_TOKEN (or --token) to your em_live_… token")
		}
	}
	home, err := agentHome(c.String(flagHome))
	if err != nil {
		return cfg, err
	}
	caCert := ""
	if v := c.String(flagCACert); v != "" {
		if caCert, err = filepath.Abs(expandHome(v)); err != nil {
			return cfg, fmt.Errorf("--ca-cert %s: %v", v, err)
		}
	}
	props, err := parseProperties(c.StringSlice(flagProperty))
	if err != nil {
		return cfg, err
	}
	maxRuns := c.Int(flagMaxRuns)
	if maxRuns < 0 || maxRuns > api.MaxMaxRuns {
		return cfg, fmt.Errorf("--%s %d: must be from 0 (no limit) to %d", flagMaxRuns, maxRuns, api.MaxMaxRuns)
	}
	return agent.Config{
		URL:                serverURL,
		UserToken:          userToken,
		Label:              label,
		Home:               home,
		GracePeriod:        durations[flagGrace],
		CACertFile:         caCert,
		InsecureSkipVerify: c.Bool(flagInsecure),
		Properties:         props,
		HeartbeatInterval:  durations[flagHeartbeat],
		PollWait:           durations[flagPollWait],
		MaxBackoff:         durations[flagMaxBackoff],
		MaxRuns:            maxRuns,
		ReportResources:    c.Bool(flagResources),
		Version:            version,
	}, nil
}

// checkURL accepts an http:// or https:// URL with a host. Errors show the
// URL without any password in it.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("--url: not a URL: use http://host:port or https://host")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url %q: use http://host:port or https://host", u.Redacted())
	}
	// Credentials belong in tokens, not URLs: a URL is written into service
	// definitions and logs that other local users can read.
	if u.User != nil {
		return fmt.Errorf("--url %q: remove the user name and password from the URL; the agent authenticates with its token", u.Redacted())
	}
	return nil
}

func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return ""
}

// agentHome resolves --home, by default ~/.argus-agent, to an absolute path.
func agentHome(v string) (string, error) {
	if v == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find your home directory (%v): set --home or ARGUS_AGENT_HOME", err)
		}
		return filepath.Join(h, ".argus-agent"), nil
	}
	abs, err := filepath.Abs(expandHome(v))
	if err != nil {
		return "", fmt.Errorf("--home %s: %v", v, err)
	}
	return abs, nil
}

// expandHome turns a leading ~ or ~/ into the user's home directory, as a
// shell would; values from the environment or the config file need it.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, `~\`) {
		return p
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(h, p[1:])
}

// propertyKey is what may follow ARGUS_PROP_ in a run's environment.
var propertyKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseProperties turns key=value items into a map. Keys that differ only
// in case are refused: they name the same ARGUS_PROP_ variable. Errors
// quote keys, never values. Empty items (a trailing comma) are skipped.
func parseProperties(items []string) (map[string]string, error) {
	var props map[string]string
	seen := map[string]string{}
	for _, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("--property %q: use key=value", token.Redact(item))
		}
		if !propertyKey.MatchString(k) {
			return nil, fmt.Errorf("--property key %q: use letters, digits and _, not starting with a digit (it becomes ARGUS_PROP_<KEY> in runs)", k)
		}
		upper := strings.ToUpper(k)
		if prev, dup := seen[upper]; dup {
			if prev == k {
				return nil, fmt.Errorf("--property %q given twice", k)
			}
			return nil, fmt.Errorf("--property %q and %q clash: both become ARGUS_PROP_%s", prev, k, upper)
		}
		seen[upper] = k
		if props == nil {
			props = map[string]string{}
		}
		props[k] = v
	}
	return props, nil
}
