package simulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The storage account and SAS version of the documented export URLs.
const (
	storageAccount = "tvmexportexternalstgeus"
	sasVersion     = "2019-12-12"
	sasTimeLayout  = "2006-01-02T15:04:05Z"

	authFailedMessage = "Server failed to authenticate the request. " +
		"Make sure the value of Authorization header is formed correctly including the signature."
)

// sasURL is the download URL of part i of snapshot s, valid from now for validity.
func (t *Tenant) sasURL(s *snapshot, i int, now time.Time, validity time.Duration) string {
	path := s.blobPath(i)
	start := now.UTC().Truncate(time.Second)
	st, se := start.Format(sasTimeLayout), start.Add(validity).Format(sasTimeLayout)

	t.mu.Lock()
	key := t.sasKeys[len(t.sasKeys)-1]
	t.mu.Unlock()
	sig := signSAS(key, stringToSign(path, "r", st, se, sasVersion, "b"))

	return t.blob.url + path + "?sv=" + sasVersion + "&st=" + url.QueryEscape(st) + "&se=" + url.QueryEscape(se) +
		"&sr=b&sp=r&sig=" + url.QueryEscape(sig)
}

// stringToSign is the service SAS string to sign of version 2019-12-12.
func stringToSign(path, sp, st, se, sv, sr string) string {
	resource := "/blob/" + storageAccount + path
	// The empty fields are the identifier, IP range, protocol, snapshot time
	// and the five response header overrides, none of which the export uses.
	return strings.Join([]string{sp, st, se, resource, "", "", "", sv, sr, "", "", "", "", "", ""}, "\n")
}

func signSAS(key []byte, s string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// serveBlob serves the storage host: the export files, to requests that carry
// a valid, unexpired SAS signature and no Authorization header.
func (t *Tenant) serveBlob(w http.ResponseWriter, r *http.Request) {
	t.handle(EndpointExportFile, t.serveExportFile, w, r)
}

// serveExportFile checks a download request the way Azure Storage does, in
// order: method, stray credentials, SAS presence, signature and time, blob.
func (t *Tenant) serveExportFile(w http.ResponseWriter, r *http.Request) {
	now := t.state.Load().opts.Now().UTC()

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeStorageError(w, http.StatusMethodNotAllowed, "UnsupportedHttpVerb",
			"The resource doesn't support specified Http Verb.", "", now)
		return
	}
	if r.Header.Get("Authorization") != "" {
		// A client that sends its API bearer token to storage leaks it.
		writeStorageError(w, http.StatusBadRequest, "InvalidAuthenticationInfo",
			"Authentication information is not given in the correct format. Check the value of Authorization header.", "", now)
		return
	}
	query := r.URL.Query()
	if query.Get("sig") == "" {
		writeStorageError(w, http.StatusNotFound, "ResourceNotFound", "The specified resource does not exist.", "", now)
		return
	}
	if detail := t.checkSAS(r.URL.Path, query, now); detail != "" {
		writeStorageError(w, http.StatusForbidden, "AuthenticationFailed", authFailedMessage, detail, now)
		return
	}

	s, i, ok := t.findBlob(r.URL.Path)
	if !ok {
		writeStorageError(w, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.", "", now)
		return
	}
	serveBlobContent(w, r, s, i)
}

// checkSAS returns why the SAS in query does not authorize path at now, or "".
func (t *Tenant) checkSAS(path string, query url.Values, now time.Time) string {
	st, se := query.Get("st"), query.Get("se")
	sts := stringToSign(path, query.Get("sp"), st, se, query.Get("sv"), query.Get("sr"))

	t.mu.Lock()
	keys := t.sasKeys
	t.mu.Unlock()
	generation := -1
	for i, key := range keys {
		if hmac.Equal([]byte(signSAS(key, sts)), []byte(query.Get("sig"))) {
			generation = i
		}
	}
	if generation < 0 {
		return "Signature did not match. String to sign used was " + sts
	}

	start, err1 := time.Parse(sasTimeLayout, st)
	expiry, err2 := time.Parse(sasTimeLayout, se)
	if err1 != nil || err2 != nil {
		return "Signature fields not well formed."
	}
	expired := generation < len(keys)-1
	if expired || now.Before(start) || now.After(expiry) {
		return "Signature not valid in the specified time frame: Start [" + start.Format(http.TimeFormat) +
			"] - Expiry [" + expiry.Format(http.TimeFormat) + "] - Current [" + now.Format(http.TimeFormat) + "]"
	}
	return ""
}

// findBlob finds the part a path names, in the current or the previous snapshot.
func (t *Tenant) findBlob(path string) (*snapshot, int, bool) {
	container, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")

	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.snaps {
		if s.container != container {
			continue
		}
		suffix, ok := strings.CutPrefix(rest, s.timePath)
		i, found := s.gen.partIndex[suffix]
		return s, i, ok && found
	}
	return nil, 0, false
}

// serveBlobContent answers a download as Azure Blob Storage does: the gzip
// bytes as an octet stream, without Content-Encoding. Range requests work.
func serveBlobContent(w http.ResponseWriter, r *http.Request, s *snapshot, i int) {
	p := &s.gen.parts[i]
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"0x8D`+strings.ToUpper(hex16(mix(s.gen.key, uint64(i), uint64(s.generatedTime.Unix())))[:13])+`"`)
	h.Set("x-ms-blob-type", "BlockBlob")
	h.Set("x-ms-version", sasVersion)
	h.Set("x-ms-request-id", newRequestID())
	h.Set("x-ms-server-encrypted", "true")
	h.Set("Server", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0")

	written := s.generatedTime.Add(time.Duration(p.number%50) * time.Second)
	http.ServeContent(w, r, "", written, bytes.NewReader(p.gz))
}

// writeStorageError answers an Azure Storage error: XML with a byte order mark,
// and the code repeated in the x-ms-error-code header.
func writeStorageError(w http.ResponseWriter, status int, code, message, detail string, now time.Time) {
	body := storageErrorBody(code, message, detail, now)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("x-ms-error-code", code)
	h.Set("x-ms-request-id", newRequestID())
	h.Set("Server", "Microsoft-HTTPAPI/2.0")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func storageErrorBody(code, message, detail string, now time.Time) string {
	var b strings.Builder
	b.WriteString("\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>")
	b.WriteString(code)
	b.WriteString("</Code><Message>")
	xmlEscape(&b, message+"\nRequestId:"+newRequestID()+"\nTime:"+now.UTC().Format("2006-01-02T15:04:05.0000000Z"))
	b.WriteString("</Message>")
	if detail != "" {
		b.WriteString("<AuthenticationErrorDetail>")
		xmlEscape(&b, detail)
		b.WriteString("</AuthenticationErrorDetail>")
	}
	b.WriteString("</Error>")
	return b.String()
}

// xmlEscaper escapes text as Azure does, leaving line breaks as they are.
var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func xmlEscape(b *strings.Builder, s string) {
	_, _ = xmlEscaper.WriteString(b, s)
}
