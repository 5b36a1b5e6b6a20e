module github.com/workerpool-go/workerpool

go 1.25
