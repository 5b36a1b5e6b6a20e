package workerpool_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeProgramsRun keeps the README's Go snippets from rotting: each is
// a whole program, which must build against this module and print what its
// "// Output:" comment says, as a user who pastes it into a main.go would
// see.
func TestReadmeProgramsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds each README program with the go command")
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	root, err := filepath.Abs(".")
	require.NoError(t, err)
	gobin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command builds the README's programs")
	programs := goBlocks(string(readme))
	require.NotEmpty(t, programs, "the README has Go programs")
	for i, src := range programs {
		require.Truef(t, strings.HasPrefix(src, "package main\n"), "README snippet %d is not a whole program:\n%s", i+1, src)
		want := expectedOutput(src)
		require.NotEmptyf(t, want, "README program %d has no // Output: comment", i+1)
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
		mod := "module readme\n\ngo 1.25\n\nrequire github.com/workerpool-go/workerpool v0.0.0\n\n" +
			"replace github.com/workerpool-go/workerpool => " + root + "\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644))
		cmd := exec.Command(gobin, "run", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		require.NoErrorf(t, err, "README program %d:\n%s", i+1, out)
		assert.Equalf(t, want, strings.TrimSpace(string(out)), "README program %d's output", i+1)
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

// expectedOutput returns the lines of the "// Output:" comment that ends a
// program, without the comment markers.
func expectedOutput(src string) string {
	i := strings.Index(src, "// Output:")
	if i < 0 {
		return ""
	}
	var lines []string
	for _, line := range strings.Split(src[i+len("// Output:"):], "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "//") {
			continue
		}
		lines = append(lines, strings.TrimSpace(strings.TrimPrefix(line, "//")))
	}
	return strings.Join(lines, "\n")
}
