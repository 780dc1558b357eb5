package simulator

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// Documented page sizes of the JSON ByMachine endpoint.
const (
	defaultPageSize = 50_000
	maxPageSize     = 200_000
)

// position is a place in the snapshot's export files: the JSON pages walk the
// same files, as the service's skip tokens show.
type position struct {
	file int // index into the export file list
	line int // lines of that file already served
}

// skipToken is the decoded $skiptoken, e.g.
// {"ExportDefinition":{"TimePath":"2021-01-11/1101/"},"ExportFileIndex":0,"LineStoppedAt":5}.
type skipToken struct {
	ExportDefinition struct {
		TimePath string
	}
	ExportFileIndex int
	LineStoppedAt   int
}

// serveAssessments serves one page of BaselineComplianceAssessmentByMachine,
// streamed record by record: a page of 200,000 records is never held whole.
func (t *Tenant) serveAssessments(w http.ResponseWriter, r *http.Request, st *state, query map[string]string) {
	pageSize := defaultPageSize
	if v, ok := query["pagesize"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			writeAPIError(w, http.StatusBadRequest, "BadRequest", "pageSize must be a number from 1 to 200000, not '"+v+"'.")
			return
		}
		pageSize = n
	}
	top := -1
	if v, ok := query["$top"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeAPIError(w, http.StatusBadRequest, "ODataError", "Invalid value '"+v+"' for $top query option.")
			return
		}
		top = n
	}
	var from position
	if v, ok := query["$skiptoken"]; ok {
		var err error
		if from, err = st.snap.parseSkipToken(v); err != nil {
			writeAPIError(w, http.StatusBadRequest, "BadRequest", "Invalid skip token: "+err.Error())
			return
		}
	}

	limit := pageSize
	if top >= 0 {
		limit = top
	}
	w.Header().Set("Content-Type", odataContentType)
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(http.StatusOK)

	bw := bufio.NewWriterSize(w, 256<<10)
	next, err := t.writePage(bw, st.snap, from, limit)
	if err != nil {
		return
	}
	more := next.file < len(st.snap.gen.parts)
	switch {
	case more && top < 0:
		bw.WriteString(`,"@odata.nextLink":`)
		bw.Write(appendJSONString(nil, t.nextLink(r, pageSize, st.snap.skipToken(next)), false))
	case st.opts.NullNextLinkOnLastPage:
		bw.WriteString(`,"@odata.nextLink":null`)
	}
	bw.WriteString("}")
	_ = bw.Flush()
}

// writePage writes the envelope's start and up to limit records from p, and
// returns where the next page starts.
func (t *Tenant) writePage(bw *bufio.Writer, s *snapshot, p position, limit int) (position, error) {
	g := s.gen
	bw.WriteString(`{"@odata.context":"` + t.api.url +
		`/api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetBaselineAssessment)","value":[`)

	var buf []byte
	p = g.skipDone(p)
	for n := 0; n < limit && p.file < len(g.parts); n++ {
		buf = buf[:0]
		if n > 0 {
			buf = append(buf, ',')
		}
		r := g.locate(&g.parts[p.file], p.line)
		buf = g.appendRecord(buf, r, g.facts(r), apiKeys)
		if _, err := bw.Write(buf); err != nil {
			return p, err // the client went away
		}
		p.line++
		p = g.skipDone(p)
	}

	_, err := bw.WriteString("]")
	return p, err
}

// skipDone moves p past files it has read to the end, and past empty files.
func (g *generation) skipDone(p position) position {
	for p.file < len(g.parts) && p.line >= g.parts[p.file].count {
		p.file++
		p.line = 0
	}
	return p
}

// nextLink is the absolute URL of the next page: same host and path, the page
// size spelt pagesize as the service does, and the skip token.
func (t *Tenant) nextLink(r *http.Request, pageSize int, token string) string {
	return t.api.url + r.URL.EscapedPath() + "?pagesize=" + strconv.Itoa(pageSize) + "&$skiptoken=" + url.QueryEscape(token)
}

// skipToken encodes p for this snapshot.
func (s *snapshot) skipToken(p position) string {
	raw := `{"ExportDefinition":{"TimePath":"` + s.timePath + `"},"ExportFileIndex":` + strconv.Itoa(p.file) +
		`,"LineStoppedAt":` + strconv.Itoa(p.line) + `}`
	return base64.StdEncoding.EncodeToString([]byte(raw))
}

// parseSkipToken decodes a skip token of this snapshot. A token of an older
// snapshot is refused: its files are gone.
func (s *snapshot) parseSkipToken(v string) (position, error) {
	raw, err := decodeBase64(v)
	if err != nil {
		return position{}, errors.New("not base64")
	}
	var tok skipToken
	if err := json.Unmarshal(raw, &tok); err != nil || tok.ExportDefinition.TimePath == "" {
		return position{}, errors.New("not a skip token")
	}
	if tok.ExportDefinition.TimePath != s.timePath {
		return position{}, errors.New("the export " + tok.ExportDefinition.TimePath + " it points into is no longer available")
	}

	p := position{file: tok.ExportFileIndex, line: tok.LineStoppedAt}
	parts := s.gen.parts
	if p.file < 0 || p.line < 0 || p.file > len(parts) || (p.file < len(parts) && p.line > parts[p.file].count) {
		return position{}, errors.New("it points outside the export")
	}
	return p, nil
}

// decodeBase64 accepts the token with or without padding, in either alphabet.
func decodeBase64(v string) ([]byte, error) {
	var err error
	encodings := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	for _, enc := range encodings {
		var b []byte
		if b, err = enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	return nil, err
}
