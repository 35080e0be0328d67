package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// What the benchmark driver (cmd/argus-bench) needs beyond the tests:
// servers that do not log where they listen, and live output of an agent
// whose log goes to a file.

// StartQuietServer is StartServer for a server run at a log level that
// hides its "argus-server listening" line: the benchmark serves at warn,
// so that no access-log line per request is timed along with the server.
// Its address is asked of the kernel instead (ListenAddr). Its output goes
// where StartServer sends it; Restart works on the result (the address is
// known by then, so no log line is needed).
func StartQuietServer(ctx context.Context, spec ServerSpec) (*Server, error) {
	if spec.DB == "" {
		spec.DB = filepath.Join(spec.Dir, "argus.db")
	}
	if spec.Addr == "" {
		spec.Addr = "127.0.0.1:0"
	}
	if spec.ReadyWithin <= 0 {
		spec.ReadyWithin = 15 * time.Second
	}
	transport, err := trusting(spec.CACertFile)
	if err != nil {
		return nil, err
	}
	s := &Server{DB: spec.DB, spec: spec, http: &http.Client{
		Timeout:       5 * time.Second,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	// Its own log file, as StartServer makes, which Restart appends to.
	f, err := os.CreateTemp(spec.Dir, "server-*.log")
	if err != nil {
		return nil, err
	}
	f.Close()
	s.logPath = f.Name()
	argv := append([]string{spec.Bin, "serve", "--addr", spec.Addr, "--db", spec.DB, "--log-format", "json"}, spec.Args...)
	p, err := Start(Spec{Name: ServerBin, Argv: argv, Env: spec.Env, LogPath: s.logPath, Log: spec.Log})
	if err != nil {
		return nil, err
	}
	s.Proc = p
	// A CA to trust is what the harness is given for a server run with
	// --tls-cert; nothing else says the server speaks TLS.
	scheme := "http://"
	if spec.CACertFile != "" {
		scheme = "https://"
	}
	s.Addr, err = waitQuiet(ctx, p, spec.ReadyWithin, func(ctx context.Context, addr string) error {
		s.URL = scheme + addr
		return s.healthy(ctx)
	})
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("%w\n%s", err, p.Output())
	}
	s.spec.Addr = s.Addr // what Restart listens on again
	return s, nil
}

// WaitListening waits until p, a plain-HTTP child started on port 0 that
// does not say where it listens, listens on a TCP port and answers 200 to
// GET healthPath there, and returns its host:port.
func WaitListening(ctx context.Context, p *Proc, healthPath string, within time.Duration) (string, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	return waitQuiet(ctx, p, within, func(ctx context.Context, addr string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+healthPath, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %d", healthPath, resp.StatusCode)
		}
		return nil
	})
}

// waitQuiet polls for p's listening address, then healthy on it, until
// both hold, p exits, or within passes.
func waitQuiet(ctx context.Context, p *Proc, within time.Duration, healthy func(context.Context, string) error) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var addr string
	err := poll(ctx, func() error {
		if err := p.Exited(); err != nil {
			return permanent(err)
		}
		if addr == "" {
			a, err := ListenAddr(p.PID())
			if err != nil {
				return err
			}
			addr = a
		}
		return healthy(ctx, addr)
	})
	if err != nil {
		return "", fmt.Errorf("%s not ready: %w", p.Name, err)
	}
	return addr, nil
}

// ListenAddr is the one TCP address process pid listens on, as the kernel
// knows it: /proc on Linux, lsof(8) elsewhere (macOS and the BSDs ship
// it). An unspecified address (0.0.0.0, ::) is given as loopback, which is
// where the harness dials. It is an error until the process listens, and
// when it listens on more than one address.
func ListenAddr(pid int) (string, error) {
	var addrs []string
	var err error
	if runtime.GOOS == "linux" {
		addrs, err = procListening(pid)
	} else {
		addrs, err = lsofListening(pid)
	}
	switch {
	case err != nil:
		return "", err
	case len(addrs) == 0:
		return "", fmt.Errorf("pid %d listens on no TCP port yet", pid)
	case len(addrs) > 1:
		return "", fmt.Errorf("pid %d listens on %d addresses, %v: cannot tell which to use", pid, len(addrs), addrs)
	}
	return addrs[0], nil
}

// procListening matches the sockets pid holds open (/proc/PID/fd links
// read "socket:[inode]") with the LISTEN rows of its network namespace's
// tables, which list every process's sockets.
func procListening(pid int) ([]string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue // no IPv6 in this kernel
		}
		for _, line := range bytes.Split(data, []byte("\n"))[1:] {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
			f := strings.Fields(string(line))
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: TCP_LISTEN
				continue
			}
			addr, err := procAddr(f[1])
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/net/%s: %w", pid, table, err)
			}
			out = append(out, addr)
		}
	}
	return out, nil
}

// procAddr decodes a /proc/net/tcp{,6} address, "0100007F:1F90": the IP
// in hex as 32-bit words printed in host byte order (so reversed on a
// little-endian machine), the port as a plain hex number.
func procAddr(s string) (string, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	if !ok || err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", s, err)
	}
	if littleEndian() {
		for w := 0; w < len(raw); w += 4 {
			raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
		}
	}
	return dialable(net.IP(raw), strconv.Itoa(int(port))), nil
}

func littleEndian() bool {
	switch runtime.GOARCH {
	case "s390x", "ppc64", "mips", "mips64":
		return false
	}
	return true
}

// lsofListening asks lsof for pid's listening TCP sockets; -F n prints
// each as a line "n<host>:<port>".
func lsofListening(pid int) ([]string, error) {
	out, err := exec.Command("lsof", "-nP", "-a", "-p", strconv.Itoa(pid), "-iTCP", "-sTCP:LISTEN", "-Fn").Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(out) == 0 {
		return nil, nil // lsof exits 1 when nothing matches: not listening yet
	}
	if err != nil {
		return nil, fmt.Errorf("lsof, to find where pid %d listens: %w", pid, err)
	}
	var addrs []string
	for line := range strings.SplitSeq(string(out), "\n") {
		name, ok := strings.CutPrefix(line, "n")
		if !ok {
			continue
		}
		host, port, err := net.SplitHostPort(name)
		if err != nil {
			return nil, fmt.Errorf("lsof: address %q: %w", name, err)
		}
		if host == "*" {
			host = "0.0.0.0"
		}
		addrs = append(addrs, dialable(net.ParseIP(host), port))
	}
	return addrs, nil
}

// dialable is ip:port with an unspecified IP replaced by loopback of its
// family.
func dialable(ip net.IP, port string) string {
	switch {
	case ip.Equal(net.IPv4zero):
		ip = net.IPv4(127, 0, 0, 1)
	case ip.Equal(net.IPv6unspecified):
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), port)
}

// FollowLog copies the lines written to the file at path (which need not
// exist yet) to w as they appear, for a child whose output goes to a file
// (an agent from StartAgent) but should also be seen live. stop copies
// what is left, a last unterminated line included, and returns once done.
func FollowLog(path string, w io.Writer) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var f *os.File
		var rd *bufio.Reader
		var partial []byte
		// copyLines copies whole lines only, so a line read half-written is
		// not split in two on w (where each piece might get a prefix).
		copyLines := func() {
			if f == nil {
				var err error
				if f, err = os.Open(path); err != nil {
					return
				}
				rd = bufio.NewReader(f)
			}
			for {
				line, err := rd.ReadBytes('\n')
				partial = append(partial, line...)
				if err != nil {
					return
				}
				_, _ = w.Write(partial)
				partial = partial[:0]
			}
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				copyLines()
			case <-quit:
				copyLines()
				if len(partial) > 0 {
					_, _ = w.Write(append(partial, '\n'))
				}
				if f != nil {
					f.Close()
				}
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}
