package workerpool_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeSnippetsAreExamples keeps the README's Go snippets from rotting:
// each one must appear, line for line, in a runnable Example of this package
// (example_test.go), which go test compiles and runs against its // Output.
// Indentation and a comment at the end of a line may differ.
func TestReadmeSnippetsAreExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	examples, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	body := normalize(string(examples))
	snippets := goBlocks(string(readme))
	require.NotEmpty(t, snippets, "the README has Go snippets")
	for _, s := range snippets {
		lines := normalize(s)
		require.Truef(t, containsRun(body, lines),
			"a README snippet is not in example_test.go; make it an Example or copy it from one:\n%s", s)
	}
}

// goBlocks returns the contents of the ```go fences in md.
func goBlocks(md string) []string {
	var blocks []string
	for {
		i := strings.Index(md, "```go\n")
		if i < 0 {
			return blocks
		}
		md = md[i+len("```go\n"):]
		j := strings.Index(md, "```")
		if j < 0 {
			return blocks
		}
		blocks = append(blocks, md[:j])
		md = md[j:]
	}
}

// normalize returns the non-empty lines of s, trimmed, with a trailing
// " // comment" cut.
func normalize(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, " // "); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// containsRun reports whether want appears in body as consecutive lines.
func containsRun(body, want []string) bool {
	for i := 0; i+len(want) <= len(body); i++ {
		match := true
		for k := range want {
			if body[i+k] != want[k] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
