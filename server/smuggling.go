package server

import (
	"net/http"

	"github.com/argus-exec/argus/server/api"
)

// refuseTransferEncoding answers 400 and closes the connection for an
// HTTP/1 request that came with a Transfer-Encoding (issue 8, item 14).
//
// RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding
// may be a smuggling attempt (a proxy in front framing it by one header,
// this server by the other), and the server must close the connection
// after answering it. Go's net/http frames such a request as chunked,
// deletes the Content-Length header and keeps the connection alive, so a
// second request hidden where the proxy saw body would be served. By the
// time a handler runs the Content-Length is gone, so "both" cannot be told
// from "chunked alone"; every request body this API takes is small JSON
// or a form that clients send with a Content-Length, so any request
// carrying Transfer-Encoding is refused, and Connection: close makes Go
// close the connection after the answer, dropping whatever follows it
// unread. It reports whether it answered. HTTP/2 has no Transfer-Encoding
// and is not affected.
func refuseTransferEncoding(w http.ResponseWriter, r *http.Request) bool {
	if len(r.TransferEncoding) == 0 || r.ProtoMajor != 1 {
		return false
	}
	w.Header().Set("Connection", "close")
	writeJSON(w, http.StatusBadRequest, api.Error{
		Error: "Transfer-Encoding is not accepted: send the body with a Content-Length",
	})
	return true
}
