package agent

import (
	"encoding/json"
	"reflect"

	"github.com/vmtest/vmtest/vm/wire"
)

// warmWire has encoding/json learn the types of the wire protocol: the
// first value of a type it decodes or encodes costs it a reflective walk
// of the type's fields, which it then caches. Done before hello, that
// walk is in the boot snapshot, and a revived machine, whose QEMU has
// translated none of its guest's code yet, skips it (about 2% of the
// guest code a revived machine runs up to ready, measured in translation
// blocks).
func warmWire() {
	for _, v := range []any{&wire.Request{}, &wire.Result{}, &wire.Event{}} {
		exemplar(reflect.ValueOf(v).Elem(), 0)
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		json.Unmarshal(b, reflect.New(reflect.TypeOf(v).Elem()).Interface())
	}
}

// exemplar fills v so that its encoding has every field: one element in
// each slice and map, every pointer set, recursively.
func exemplar(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		exemplar(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				exemplar(f, depth+1)
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		exemplar(v.Index(0), depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		exemplar(k, depth+1)
		exemplar(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	}
}
