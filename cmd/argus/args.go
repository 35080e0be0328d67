package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs puts flags where the parser under cli/v2 looks for them,
// which is before the first positional argument: "argus stop RUN --grace
// 10s" would otherwise take "--grace" for another run id. Global flags
// given after the command ("argus runs --json") move in front of it. For
// record, only flags before its first positional argument (or "--") are
// touched: everything after belongs to the recorded command.
func reorderArgs(app *cli.App, args []string) []string {
	i := 1
	for i < len(args) && isFlag(args[i]) {
		if args[i] == "--" {
			return args
		}
		if takesValue(app.Flags, args[i]) {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := findCommand(app, args[i])
	if cmd == nil {
		return args
	}
	var globals, flags, positional []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" || !isFlag(a) && cmd.Name == "record" {
			positional = append(positional, rest[j:]...)
			break
		}
		if !isFlag(a) {
			positional = append(positional, a)
			continue
		}
		dst, owner := &flags, cmd.Flags
		if !knows(cmd.Flags, a) && knows(app.Flags, a) {
			dst, owner = &globals, app.Flags
		}
		*dst = append(*dst, a)
		if takesValue(owner, a) && j+1 < len(rest) {
			j++
			*dst = append(*dst, rest[j])
		}
	}
	out := slices.Concat(args[:i], globals, args[i:i+1], flags)
	if len(positional) > 0 && positional[0] != "--" {
		// "--" keeps an argument that starts with "-" from being read as a flag.
		out = append(out, "--")
	}
	return append(out, positional...)
}

// isFlag: a lone "-" is an argument by convention.
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether arg names a non-boolean flag given without
// "=value", so the next argument is its value.
func takesValue(flags []cli.Flag, arg string) bool {
	if strings.Contains(arg, "=") {
		return false
	}
	f := lookup(flags, arg)
	_, isBool := f.(*cli.BoolFlag)
	return f != nil && !isBool
}

func knows(flags []cli.Flag, arg string) bool { return lookup(flags, arg) != nil }

// lookup finds the flag that arg ("-x", "--name", "--name=v") refers to.
func lookup(flags []cli.Flag, arg string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func findCommand(app *cli.App, name string) *cli.Command {
	for _, c := range app.Commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
