package server

import (
	"errors"
	"net"
	"sync"
)

// relistener is the listener net/http serves from: besides what its own
// listener accepts, it hands back the connections of parked long-polls
// that have answered (park.go), so an agent's kept-alive connection
// serves its next request as if it had never left net/http.
type relistener struct {
	net.Listener
	accepted  chan acceptResult
	back      chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

type acceptResult struct {
	conn net.Conn
	err  error
}

func newRelistener(ln net.Listener) *relistener {
	l := &relistener{
		Listener: ln,
		accepted: make(chan acceptResult),
		back:     make(chan net.Conn, 64),
		done:     make(chan struct{}),
	}
	go l.acceptLoop()
	return l
}

// acceptLoop runs the inner listener's Accept for Accept, which must also
// wait for connections handed back. It ends with the listener.
func (l *relistener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		select {
		case l.accepted <- acceptResult{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// Accept implements net.Listener.
func (l *relistener) Accept() (net.Conn, error) {
	select {
	case c := <-l.back:
		return c, nil
	case a := <-l.accepted:
		return a.conn, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *relistener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// handBack gives c to net/http to read its next request from; once the
// listener is closed, c is closed instead.
func (l *relistener) handBack(c net.Conn) {
	select {
	case l.back <- c:
	case <-l.done:
		c.Close()
	}
}
