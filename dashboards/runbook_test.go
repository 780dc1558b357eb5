package dashboards

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestRunbookLinksReachAReadmeSection checks that every runbook_url of the
// alerts points at a heading of the README, using GitHub's anchor rule for
// headings made of letters only: lower-cased, as they are.
func TestRunbookLinksReachAReadmeSection(t *testing.T) {
	alerts, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}

	anchors := make(map[string]bool)
	for _, m := range regexp.MustCompile(`(?m)^#+ (\w+)\s*$`).FindAllStringSubmatch(string(readme), -1) {
		anchors[strings.ToLower(m[1])] = true
	}

	links := regexp.MustCompile(`runbook_url: \S+README\.md#(\S+)`).FindAllStringSubmatch(string(alerts), -1)
	alertCount := len(regexp.MustCompile(`(?m)^\s+- alert: `).FindAllString(string(alerts), -1))
	if len(links) != alertCount {
		t.Errorf("%d runbook links for %d alerts, want one per alert", len(links), alertCount)
	}
	for _, link := range links {
		if !anchors[link[1]] {
			t.Errorf("runbook_url #%s has no README heading", link[1])
		}
	}
}
