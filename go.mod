module github.com/vmtest/vmtest

go 1.26.0

require (
	github.com/chzyer/readline v1.5.1
	github.com/ulikunitz/xz v0.5.17
	go.starlark.net v0.0.0-20260908191801-89a6a09411d5
	golang.org/x/sync v0.24.0
	golang.org/x/sys v0.49.0
)

require github.com/alecthomas/participle/v2 v2.1.4
