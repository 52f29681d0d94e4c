package gateway

import "net/http"

// MaxRequestHead is API Gateway's quota on the total combined size of the
// request line and header values, 10,240 bytes ("Quotas for configuring
// and running an HTTP API in API Gateway" in the API Gateway developer
// guide; the same figure bounds a REST API's header values and a regional
// API's URL, and the WebSocket quotas name none of their own). A handshake
// over it is refused before $connect runs, so that its ?token= never
// reaches the authorizer; so is an @connections request.
const MaxRequestHead = 10240

// RequestHeadSize is the size of r's request line, and that of the line
// and every header value (Host included) together.
func RequestHeadSize(r *http.Request) (line, total int) {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	line = len(r.Method) + 1 + len(uri) + 1 + len(r.Proto)
	total = line + len(r.Host)
	for _, vs := range r.Header {
		for _, v := range vs {
			total += len(v)
		}
	}
	return line, total
}

// refuseOversized answers a request over MaxRequestHead, 414 if its line
// alone is, else 431, and reports whether it did.
func refuseOversized(w http.ResponseWriter, r *http.Request) bool {
	line, total := RequestHeadSize(r)
	switch {
	case line > MaxRequestHead:
		writeJSON(w, http.StatusRequestURITooLong, `{"message":"Request-URI Too Long"}`)
	case total > MaxRequestHead:
		writeJSON(w, http.StatusRequestHeaderFieldsTooLarge, `{"message":"Request Header Fields Too Large"}`)
	default:
		return false
	}
	return true
}
