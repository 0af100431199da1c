// kstatus-check reads Kubernetes objects as JSON on stdin (one object, a JSON array of
// objects, a List with items, or a stream of any of these) and prints, for each object, the
// status sigs.k8s.io/cli-utils/pkg/kstatus/status computes for it, as one JSON line:
// {"kind": ..., "name": ..., "status": "InProgress|Current|Failed|...", "message": ...}.
// That is the verdict Flux, kpt and other kstatus users reach. Built and cached by
// modelops_devcluster.gotools (python -m modelops_devcluster.gotools kstatus-check).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func emit(enc *json.Encoder, raw json.RawMessage) error {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil { // numbers as int64, as the API server sends them
		return err
	}
	if strings.HasSuffix(u.GetKind(), "List") {
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		return emitAll(enc, list.Items)
	}
	res, err := status.Compute(u)
	if err != nil {
		return fmt.Errorf("%s/%s: %w", u.GetKind(), u.GetName(), err)
	}
	return enc.Encode(verdict{u.GetKind(), u.GetName(), res.Status.String(), res.Message})
}

func emitAll(enc *json.Encoder, items []json.RawMessage) error {
	for _, item := range items {
		if err := emit(enc, item); err != nil {
			return err
		}
	}
	return nil
}

func run(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(trimmed, &items); err != nil {
				return err
			}
			if err := emitAll(enc, items); err != nil {
				return err
			}
			continue
		}
		if err := emit(enc, raw); err != nil {
			return err
		}
	}
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check:", err)
		os.Exit(1)
	}
}
