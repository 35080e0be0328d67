package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// serviceHome is the agent's home for a service: --home if given, else the
// default, except under sudo, where it is the invoking user's: the usual
// way to install a system service is to register as yourself and then run
// "sudo argus-agent service install", and sudo may have set HOME to root's.
func (s *serviceContext) serviceHome() (string, error) {
	if v := s.c.String(flagHome); v != "" {
		return agentHome(v)
	}
	if sudoer := os.Getenv("SUDO_USER"); sudoer != "" && sudoer != "root" && s.goos != "windows" && os.Geteuid() == 0 && !s.c.Bool(flagUser) {
		u, err := user.Lookup(sudoer)
		if err != nil {
			return "", fmt.Errorf("cannot find the home of SUDO_USER %s (%v): set --home", sudoer, err)
		}
		return filepath.Join(u.HomeDir, ".argus-agent"), nil
	}
	return agentHome("")
}

// serviceArgs are the agent's arguments in the service: where its token
// is, and what was set explicitly (see serviceDescription).
func (s *serviceContext) serviceArgs(home, name string) ([]string, error) {
	c := s.c
	args := []string{"--home", home}
	if s.explicit[flagConfig] {
		abs, err := filepath.Abs(expandHome(c.String(flagConfig)))
		if err != nil {
			return nil, err
		}
		args = append(args, "--config", abs)
	}
	for _, name := range []string{flagURL, flagCACert, flagInsecure, flagGrace, flagHeartbeat, flagPollWait, flagProperty, flagLogLevel, flagMaxRuns, flagResources} {
		if !s.explicit[name] {
			continue
		}
		switch name {
		case flagURL:
			args = append(args, "--url", strings.TrimSpace(c.String(name)))
		case flagCACert:
			abs, err := filepath.Abs(expandHome(c.String(name)))
			if err != nil {
				return nil, err
			}
			args = append(args, "--ca-cert", abs)
		case flagInsecure:
			if c.Bool(name) {
				args = append(args, "--insecure-skip-verify")
			}
		case flagGrace, flagHeartbeat, flagPollWait:
			args = append(args, "--"+name, c.Duration(name).String())
		case flagMaxRuns:
			args = append(args, "--"+name, strconv.Itoa(c.Int(name)))
		case flagResources:
			// With "=": a bool flag takes no separate value.
			args = append(args, "--"+name+"="+strconv.FormatBool(c.Bool(name)))
		case flagProperty:
			for _, p := range c.StringSlice(name) {
				if p = strings.TrimSpace(p); p != "" {
					args = append(args, "--property", p)
				}
			}
		default:
			args = append(args, "--"+name, c.String(name))
		}
	}
	// JSON lines suit journald, launchd's log file and the Windows log
	// file alike, unless asked otherwise.
	format := "json"
	if s.explicit[flagLogFormat] {
		format = c.String(flagLogFormat)
	}
	args = append(args, "--log-format", format)
	logFile := ""
	if s.explicit[flagLogFile] {
		logFile = expandHome(c.String(flagLogFile))
	} else if s.goos == "windows" {
		logFile = filepath.Join(home, name+".log") // a Windows service has no stderr
	}
	if logFile != "" {
		abs, err := filepath.Abs(logFile)
		if err != nil {
			return nil, err
		}
		args = append(args, "--log-file", abs)
	}
	return args, nil
}

// registerHint repeats --home and --label for "run argus-agent --register".
func registerHint(home, label string) string {
	h := ""
	if def, err := agentHome(""); err != nil || def != home {
		h += " --home " + home
	}
	if label != "" {
		h += " --label " + label
	}
	return h
}
