package agent

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/vm/wire"
)

func TestExemplarHasEveryField(t *testing.T) {
	var req wire.Request
	exemplar(reflect.ValueOf(&req).Elem(), 0)
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"interfaces":[{"mac":"x"`, `"files":[{"path":"x"`, `"jobs":[{"name":"x"`, `"tty":{`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the exemplar request lacks %s: %s", want, b)
		}
	}
	warmWire() // does not panic
}
