// Command argocd-lua runs Argo CD resource customizations (health checks and actions) the way an
// Argo CD application controller does, and checks them against Argo CD's own test layout.
//
// The VM follows Argo CD's util/lua: gopher-lua with no standard libraries except package, base,
// table and a safe os (time, date), the resource as the global `obj`, the returned table encoded
// with gopher-json (an empty table becomes []), one second per script. Scripts shipped through
// argocd-cm run without `useOpenLibs`, so a script that calls string.* or math.* fails here as it
// would in Argo CD.
//
//	argocd-lua test DIR              every <group>/<Kind>/health_test.yaml and actions/action_test.yaml under DIR
//	argocd-lua health KINDDIR FILE   the health of one object (YAML or JSON), printed as JSON
//	argocd-lua actions KINDDIR FILE  the actions discovery.lua offers for one object, as JSON
//	argocd-lua action KINDDIR NAME FILE  the object that action NAME would write, as JSON
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

var healthCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true, "Healthy": true, "Degraded": true, "Missing": true,
}

// Health is what a health.lua returns.
type Health struct {
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
}

// Action is one entry of what a discovery.lua returns.
type Action struct {
	Name        string `json:"name"`
	Disabled    bool   `json:"disabled"`
	DisplayName string `json:"displayName,omitempty"`
	IconClass   string `json:"iconClass,omitempty"`
}

func run(obj map[string]any, script string) (lua.LValue, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, err
		}
	}
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(l.SetFuncs(l.NewTable(), safeOs))
		return 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	return l.Get(-1), nil
}

// now is the clock scripts see: ARGOCD_LUA_NOW (Unix seconds) pins it, so action tests that
// stamp a time (a nonce) have one expected output.
func now() time.Time {
	if pinned, err := strconv.ParseInt(os.Getenv("ARGOCD_LUA_NOW"), 10, 64); err == nil {
		return time.Unix(pinned, 0).UTC()
	}
	return time.Now()
}

// safeOs is the part of os Argo CD gives scripts: time() and date() (UTC, RFC 3339 only here).
var safeOs = map[string]lua.LGFunction{
	"time": func(l *lua.LState) int { l.Push(lua.LNumber(now().Unix())); return 1 },
	"date": func(l *lua.LState) int { l.Push(lua.LString(now().UTC().Format(time.RFC3339))); return 1 },
}

func openSafeOs(l *lua.LState) int {
	l.Push(l.RegisterModule(lua.OsLibName, safeOs))
	return 1
}

// toLua mirrors Argo CD's decodeValue: JSON numbers become Lua numbers, objects tables.
func toLua(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

func table(value lua.LValue, what string) ([]byte, error) {
	if value.Type() != lua.LTTable {
		return nil, fmt.Errorf("expect table output from Lua script, not %s (%s)", value.Type(), what)
	}
	return luajson.Encode(value)
}

func health(kindDir string, obj map[string]any) (Health, error) {
	script, err := os.ReadFile(filepath.Join(kindDir, "health.lua"))
	if err != nil {
		return Health{}, err
	}
	value, err := run(obj, string(script))
	if err != nil {
		return Health{}, err
	}
	data, err := table(value, "health.lua")
	if err != nil {
		return Health{}, err
	}
	var h Health
	if err := json.Unmarshal(data, &h); err != nil {
		return Health{}, err
	}
	if !healthCodes[h.Status] {
		return Health{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return h, nil
}

func discover(kindDir string, obj map[string]any) ([]Action, error) {
	script, err := os.ReadFile(filepath.Join(kindDir, "actions", "discovery.lua"))
	if err != nil {
		return nil, err
	}
	value, err := run(obj, string(script))
	if err != nil {
		return nil, err
	}
	data, err := table(value, "discovery.lua")
	if err != nil {
		return nil, err
	}
	actions := []Action{}
	if string(data) == "[]" {
		return actions, nil
	}
	var found map[string]json.RawMessage
	if err := json.Unmarshal(data, &found); err != nil {
		return nil, err
	}
	for name, raw := range found {
		action := Action{Name: name}
		if string(raw) != "[]" { // an empty table: enabled, no display name
			if err := json.Unmarshal(raw, &action); err != nil {
				return nil, fmt.Errorf("action %s: %w", name, err)
			}
			action.Name = name
		}
		actions = append(actions, action)
	}
	sort.Slice(actions, func(i, j int) bool { return actions[i].Name < actions[j].Name })
	return actions, nil
}

func act(kindDir, name string, obj map[string]any) (map[string]any, error) {
	script, err := os.ReadFile(filepath.Join(kindDir, "actions", name, "action.lua"))
	if err != nil {
		return nil, err
	}
	value, err := run(obj, string(script))
	if err != nil {
		return nil, err
	}
	data, err := table(value, name+"/action.lua")
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s must return the object (Argo CD's patch action): %w", name, err)
	}
	return clean(out, obj), nil
}

// clean undoes what Lua cannot tell apart, as Argo CD does: an empty table that was an object stays one.
func clean(out, orig map[string]any) map[string]any {
	for key, newValue := range out {
		oldValue, ok := orig[key]
		if !ok {
			continue
		}
		switch n := newValue.(type) {
		case map[string]any:
			if o, ok := oldValue.(map[string]any); ok {
				out[key] = clean(n, o)
			}
		case []any:
			switch o := oldValue.(type) {
			case map[string]any:
				if len(n) == 0 {
					out[key] = o
				}
			case []any:
				out[key] = cleanArray(n, o)
			}
		}
	}
	return out
}

// cleanArray looks into arrays too: `steps: [{pause: {}}]` must not come back as `pause: []`.
func cleanArray(out, orig []any) []any {
	for i := range out {
		if i >= len(orig) {
			break
		}
		switch n := out[i].(type) {
		case map[string]any:
			if o, ok := orig[i].(map[string]any); ok {
				out[i] = clean(n, o)
			}
		case []any:
			if o, ok := orig[i].([]any); ok {
				out[i] = cleanArray(n, o)
			}
		}
	}
	return out
}

func load(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

type healthTests struct {
	Tests []struct {
		HealthStatus Health `json:"healthStatus"`
		InputPath    string `json:"inputPath"`
	} `json:"tests"`
}

type actionTests struct {
	DiscoveryTests []struct {
		InputPath string   `json:"inputPath"`
		Result    []Action `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

// Result is one test's outcome, printed as a JSON line.
type Result struct {
	Kind   string `json:"kind"`
	Test   string `json:"test"`
	Input  string `json:"input"`
	Passed bool   `json:"passed"`
	Got    any    `json:"got,omitempty"`
	Want   any    `json:"want,omitempty"`
	Error  string `json:"error,omitempty"`
}

func testKind(kindDir, kind string, emit func(Result)) error {
	if data, err := os.ReadFile(filepath.Join(kindDir, "health_test.yaml")); err == nil {
		var spec healthTests
		if err := yaml.UnmarshalStrict(data, &spec); err != nil {
			return fmt.Errorf("%s/health_test.yaml: %w", kind, err)
		}
		for _, t := range spec.Tests {
			r := Result{Kind: kind, Test: "health", Input: t.InputPath, Want: t.HealthStatus}
			obj, err := load(filepath.Join(kindDir, t.InputPath))
			if err == nil {
				var got Health
				got, err = health(kindDir, obj)
				r.Got, r.Passed = got, err == nil && got == t.HealthStatus
			}
			if err != nil {
				r.Error = err.Error()
			}
			emit(r)
		}
	}
	actionsDir := filepath.Join(kindDir, "actions")
	data, err := os.ReadFile(filepath.Join(actionsDir, "action_test.yaml"))
	if err != nil {
		return nil
	}
	var spec actionTests
	if err := yaml.UnmarshalStrict(data, &spec); err != nil {
		return fmt.Errorf("%s/actions/action_test.yaml: %w", kind, err)
	}
	for _, t := range spec.DiscoveryTests {
		want := append([]Action{}, t.Result...)
		sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
		r := Result{Kind: kind, Test: "discovery", Input: t.InputPath, Want: want}
		obj, err := load(filepath.Join(actionsDir, t.InputPath))
		if err == nil {
			var got []Action
			got, err = discover(kindDir, obj)
			r.Got, r.Passed = got, err == nil && reflect.DeepEqual(got, want)
		}
		if err != nil {
			r.Error = err.Error()
		}
		emit(r)
	}
	for _, t := range spec.ActionTests {
		r := Result{Kind: kind, Test: "action " + t.Action, Input: t.InputPath}
		obj, err := load(filepath.Join(actionsDir, t.InputPath))
		var want map[string]any
		if err == nil {
			want, err = load(filepath.Join(actionsDir, t.ExpectedOutputPath))
		}
		if err == nil {
			var got map[string]any
			got, err = act(kindDir, t.Action, obj)
			r.Got, r.Want, r.Passed = got, want, err == nil && reflect.DeepEqual(normal(got), normal(want))
		}
		if err != nil {
			r.Error = err.Error()
		}
		emit(r)
	}
	return nil
}

// normal round-trips through JSON so numbers and maps compare alike.
func normal(v any) any {
	data, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(data, &out)
	return out
}

func testAll(root string) int {
	failed, total := 0, 0
	encoder := json.NewEncoder(os.Stdout)
	emit := func(r Result) {
		total++
		if !r.Passed {
			failed++
		}
		_ = encoder.Encode(r)
	}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if _, statErr := os.Stat(filepath.Join(path, "health.lua")); statErr != nil {
			if _, statErr := os.Stat(filepath.Join(path, "actions", "discovery.lua")); statErr != nil {
				return nil
			}
		}
		rel, _ := filepath.Rel(root, path)
		return testKind(path, filepath.ToSlash(rel), emit)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Fprintf(os.Stderr, "%d tests, %d failed\n", total, failed)
	if failed > 0 || total == 0 {
		return 1
	}
	return 0
}

func main() {
	args := os.Args[1:]
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "argocd-lua:", err)
		os.Exit(2)
	}
	print := func(v any) {
		if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
			fail(err)
		}
	}
	switch {
	case len(args) == 2 && args[0] == "test":
		os.Exit(testAll(args[1]))
	case len(args) == 3 && (args[0] == "health" || args[0] == "actions"):
		obj, err := load(args[2])
		if err != nil {
			fail(err)
		}
		if args[0] == "health" {
			h, err := health(args[1], obj)
			if err != nil {
				fail(err)
			}
			print(h)
		} else {
			a, err := discover(args[1], obj)
			if err != nil {
				fail(err)
			}
			print(a)
		}
	case len(args) == 4 && args[0] == "action":
		obj, err := load(args[3])
		if err != nil {
			fail(err)
		}
		out, err := act(args[1], args[2], obj)
		if err != nil {
			fail(err)
		}
		print(out)
	default:
		fmt.Fprintln(os.Stderr, strings.TrimSpace(`usage:
  argocd-lua test DIR
  argocd-lua health KINDDIR FILE
  argocd-lua actions KINDDIR FILE
  argocd-lua action KINDDIR NAME FILE`))
		os.Exit(2)
	}
}
