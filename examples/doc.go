// Package examples shows workerpool with other libraries (golang.org/x/time/rate)
// and as whole programs, in a module of its own so that the core module keeps
// no dependencies. Run the examples with `go test -v .` here, and the
// programs with `go run ./progress`.
package examples
