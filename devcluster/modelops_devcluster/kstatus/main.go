// kstatus-check reads Kubernetes objects as JSON on stdin (one object, a JSON array of
// objects, or a stream of objects) and prints, for each, the status that
// sigs.k8s.io/cli-utils/pkg/kstatus/status computes: one JSON line
// {"kind", "name", "status", "message"}. It is what Flux and other kstatus users see.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func emit(enc *json.Encoder, obj map[string]interface{}) error {
	u := &unstructured.Unstructured{Object: obj}
	res, err := status.Compute(u)
	if err != nil {
		return fmt.Errorf("%s/%s: %w", u.GetKind(), u.GetName(), err)
	}
	return enc.Encode(verdict{u.GetKind(), u.GetName(), res.Status.String(), res.Message})
}

func run(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	for {
		var raw interface{}
		if err := dec.Decode(&raw); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		switch v := raw.(type) {
		case []interface{}:
			for _, item := range v {
				obj, ok := item.(map[string]interface{})
				if !ok {
					return fmt.Errorf("array item is not an object")
				}
				if err := emit(enc, obj); err != nil {
					return err
				}
			}
		case map[string]interface{}:
			if items, ok := v["items"].([]interface{}); ok && v["kind"] != nil && len(v) > 0 && isList(v) {
				for _, item := range items {
					if err := emit(enc, item.(map[string]interface{})); err != nil {
						return err
					}
				}
				continue
			}
			if err := emit(enc, v); err != nil {
				return err
			}
		default:
			return fmt.Errorf("input is neither an object nor an array")
		}
	}
}

func isList(v map[string]interface{}) bool {
	kind, _ := v["kind"].(string)
	return len(kind) > 4 && kind[len(kind)-4:] == "List"
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check:", err)
		os.Exit(1)
	}
}
