package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// frontDoor is a TCP forwarder the harness owns on 127.0.0.1:0 in front
// of a server that a test restarts: clients (an agent's cached URL) keep
// one address while the server behind it comes and goes on ports of its
// own, so no port is ever freed and then bound again, which another test's
// server or an outgoing connection could have taken meanwhile. While the
// server is down, connections are accepted and closed at once, which a
// client sees as the network error it is.
type frontDoor struct {
	ln     net.Listener
	target atomic.Pointer[string] // the server's own host:port

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func openFrontDoor() (*frontDoor, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &frontDoor{ln: ln, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *frontDoor) addr() string { return f.ln.Addr().String() }

func (f *frontDoor) retarget(addr string) { f.target.Store(&addr) }

func (f *frontDoor) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return // closed
		}
		f.wg.Add(1)
		go f.forward(c)
	}
}

// forward joins one client connection to the server until either side
// closes.
func (f *frontDoor) forward(client net.Conn) {
	defer f.wg.Done()
	target := f.target.Load()
	if target == nil {
		client.Close()
		return
	}
	server, err := net.Dial("tcp", *target)
	if err != nil {
		client.Close() // the server is down: the client sees a closed connection
		return
	}
	if !f.track(client, server) {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(server, client)
		server.Close()
		close(done)
	}()
	_, _ = io.Copy(client, server)
	client.Close()
	<-done
	f.untrack(client, server)
}

// track records a joined pair so close can end it; false when the door is
// already closed (and the pair then is).
func (f *frontDoor) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *frontDoor) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		delete(f.conns, c)
	}
}

// close stops accepting, ends every joined connection and waits for the
// forwarding goroutines.
func (f *frontDoor) close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
}
