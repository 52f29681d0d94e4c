package main

// The page's files, compressed: each file of the page is compressed once,
// when the adapter starts, with gzip and with Brotli, and served in the
// encoding the client prefers (br when it asks for it, else gzip, else as
// is). CloudFront does the same in AWS (template.yaml, Compress: true).

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
)

// compressedFile is one file of the page in each encoding.
type compressedFile struct {
	name     string
	modTime  time.Time
	encoded  map[string][]byte // "" (identity), "gzip", "br"
	etags    map[string]string
	mimeType string
}

// compressedFiles serves the files of fsys compressed, and hands every
// other request (a directory, a missing file, a redirect) to next.
type compressedFiles struct {
	files map[string]*compressedFile // URL path ("/" for index.html) -> file
	next  http.Handler
}

// newCompressedFiles compresses every regular file at the root of fsys.
func newCompressedFiles(fsys fs.FS, next http.Handler) (*compressedFiles, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read the page's files: %w", err)
	}
	c := &compressedFiles{files: map[string]*compressedFile{}, next: next}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := compressFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		urlPath := "/" + e.Name()
		if e.Name() == "index.html" {
			urlPath = "/" // http.FileServer redirects /index.html to /
		}
		c.files[urlPath] = f
	}
	return c, nil
}

func compressFile(fsys fs.FS, name string) (*compressedFile, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	var gz, br bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
	for _, w := range []io.WriteCloser{zw, bw} {
		if _, err := w.Write(raw); err != nil {
			return nil, fmt.Errorf("compress %s: %w", name, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("compress %s: %w", name, err)
		}
	}
	f := &compressedFile{
		name:     name,
		encoded:  map[string][]byte{"": raw},
		etags:    map[string]string{},
		mimeType: mime.TypeByExtension(path.Ext(name)),
	}
	// An encoding that does not make the file smaller is not offered.
	if gz.Len() < len(raw) {
		f.encoded["gzip"] = gz.Bytes()
	}
	if br.Len() < len(raw) {
		f.encoded["br"] = br.Bytes()
	}
	sum := sha256.Sum256(raw)
	tag := hex.EncodeToString(sum[:8])
	for enc := range f.encoded {
		f.etags[enc] = `"` + tag + map[string]string{"": "", "gzip": "-gz", "br": "-br"}[enc] + `"`
	}
	if info, err := fs.Stat(fsys, name); err == nil {
		f.modTime = info.ModTime() // embedded files have none: zero
	}
	return f, nil
}

func (c *compressedFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := c.files[r.URL.Path]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		c.next.ServeHTTP(w, r)
		return
	}
	enc := chooseEncoding(r.Header.Get("Accept-Encoding"), f.encoded)
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if f.mimeType != "" {
		h.Set("Content-Type", f.mimeType)
	}
	if enc != "" {
		h.Set("Content-Encoding", enc)
	}
	h.Set("ETag", f.etags[enc])
	http.ServeContent(w, r, f.name, f.modTime, bytes.NewReader(f.encoded[enc]))
}

// chooseEncoding picks br, else gzip, among those the client accepts
// (a q of 0 refuses one) and the file has; "" is the file as is.
func chooseEncoding(acceptEncoding string, have map[string][]byte) string {
	accepted := map[string]bool{}
	star := false
	for _, part := range strings.Split(acceptEncoding, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		if name == "*" {
			star = q > 0
			continue
		}
		accepted[name] = q > 0
	}
	for _, enc := range []string{"br", "gzip"} {
		ok, named := accepted[enc]
		if _, has := have[enc]; has && (ok || (!named && star)) {
			return enc
		}
	}
	return ""
}
