package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ConnsTo counts the established TCP connections process pid holds to
// addr (host:port; only the port is compared): its socket inodes (/proc/pid/fd) matched against the
// kernel's table (/proc/pid/net/tcp and tcp6), remote port and state
// ESTABLISHED. A test proves with it how many connections an agent
// keeps to the server.
func ConnsTo(pid int, addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if inode, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		count, err := countEstablished(fmt.Sprintf("/proc/%d/net/%s", pid, table), port, inodes)
		if err != nil {
			return 0, err
		}
		n += count
	}
	return n, nil
}

// countEstablished reads one /proc/net/tcp table: columns are sl,
// local_address, rem_address (hex ip:port), st (01 = ESTABLISHED), …,
// inode (the tenth).
func countEstablished(path string, port int, inodes map[string]bool) (int, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, nil // no IPv6 here
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Fields(sc.Text())
		if len(cols) < 10 || cols[3] != "01" || !strings.HasSuffix(cols[2], want) {
			continue
		}
		if inodes[cols[9]] {
			n++
		}
	}
	return n, sc.Err()
}
