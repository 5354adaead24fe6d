package config

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Every process can describe its configuration: started as
// `<command> describe-config` it reads its settings with a describing Env,
// which ignores the environment, and prints each variable it reads with its
// default. The table of variables in docs/configuration.md is generated from
// those descriptions (e2e/configdoc_test.go), so the docs list exactly what
// the code reads, with the defaults the code has.

// Var is one variable as a process reads it.
type Var struct {
	Name     string `json:"name"`
	Default  string `json:"default"`
	Secret   bool   `json:"secret,omitempty"`
	Required bool   `json:"required,omitempty"`
}

// DescribeCommand is the argument that asks a process to describe itself.
const DescribeCommand = "describe-config"

// DescribeRequested reports whether the process was started to describe its
// configuration.
func DescribeRequested() bool { return len(os.Args) == 2 && os.Args[1] == DescribeCommand }

// NewDescriber returns an Env that reads nothing and records every variable.
// LOG_LEVEL comes first: every process reads it (shared/obs, before its
// settings, so that the settings can be logged).
func NewDescriber() *Env {
	e := &Env{secrets: map[string]bool{}, describing: true}
	e.note("LOG_LEVEL", "info")
	return e
}

// Vars returns the variables read so far, in the order of their first read.
func (e *Env) Vars() []Var { return append([]Var(nil), e.vars...) }

// PrintDescription writes the variables read as JSON lines.
func (e *Env) PrintDescription(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, v := range e.vars {
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("describe config: %w", err)
		}
	}
	return nil
}

func (e *Env) find(key string) *Var {
	for i := range e.vars {
		if e.vars[i].Name == key {
			return &e.vars[i]
		}
	}
	return nil
}

func (e *Env) note(key, def string) {
	if e.find(key) == nil {
		e.vars = append(e.vars, Var{Name: key, Default: def})
	}
}

func (e *Env) markSecret(key string) {
	if v := e.find(key); v != nil {
		v.Secret = true
		if v.Default != "" {
			// A secret's default is never printed: it may be a credential
			// of a developer machine (a DSN), and it does not belong in docs.
			v.Default = "(development value)"
		}
	}
}

func (e *Env) require(key string) {
	if v := e.find(key); v != nil {
		v.Required = true
	}
}

// DescribeIfAsked is the first line of every main: when the process was
// started as `<command> describe-config`, it runs read (the program's own
// settings reader) on a describing Env, prints what was read and reports
// true, and the main returns.
func DescribeIfAsked(read func(*Env)) bool {
	if !DescribeRequested() {
		return false
	}
	env := NewDescriber()
	read(env)
	if err := env.PrintDescription(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return true
}
