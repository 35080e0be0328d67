package testenv

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
)

// pathProxy is a reverse proxy in front of a server run with --base-path,
// as a lab's would be: net/http/httputil's, passing the path on as it
// came (the prefix kept) and the client's Host, and serving nothing
// outside the prefix. It stands for nginx's `location /argus/ {
// proxy_pass http://backend; }`.
type pathProxy struct {
	ln      net.Listener
	srv     *http.Server
	backend atomic.Pointer[url.URL]
}

func openPathProxy(base string) (*pathProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &pathProxy{ln: ln}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.backend.Load()) // keeps the incoming path after the backend's (empty) one
			r.Out.Host = r.In.Host     // as proxies configured with "proxy_set_header Host" do
			r.SetXForwarded()
		},
		FlushInterval: -1, // long-polls and followed logs stream through
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, base+"/") && r.URL.Path != base {
			http.Error(w, "the proxy serves only "+base+"/", http.StatusNotFound)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// retarget points the proxy at the server's current address.
func (p *pathProxy) retarget(addr string, useTLS bool) {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	p.backend.Store(&url.URL{Scheme: scheme, Host: addr})
}

func (p *pathProxy) addr() string { return p.ln.Addr().String() }

func (p *pathProxy) close() { _ = p.srv.Close() }
