// Command greet is a program for the coverage tests: each word is its
// own path, and "wait" blocks until the process is killed.
package main

import (
	"fmt"
	"os"
	"time"
)

type greeter struct{ name string }

func (g *greeter) hello() string { return "hello, " + g.name }

func (g greeter) bye() string {
	return "bye, " + g.name
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: greet hello|bye|wait")
		os.Exit(2)
	}
	g := &greeter{name: "world"}
	switch os.Args[1] {
	case "hello":
		fmt.Println(g.hello())
	case "bye":
		fmt.Println(g.bye())
	case "wait":
		fmt.Println("waiting")
		time.Sleep(time.Hour)
	default:
		fmt.Fprintln(os.Stderr, "greet: unknown word", os.Args[1])
		os.Exit(2)
	}
}
