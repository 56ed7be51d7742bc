package keys

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for name, want := range map[string]Combo{
		"ret":             {"ret"},
		"a":               {"a"},
		"shift-a":         {"shift", "a"},
		"alt-f2":          {"alt", "f2"},
		"ctrl-alt-delete": {"ctrl", "alt", "delete"},
		"kp_enter":        {"kp_enter"},
		"spc":             {"spc"},
		"shift-0x02":      {"shift", "0x02"},
	} {
		got, err := Parse(name)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Parse(%q) = %q, %v; want %q", name, got, err, want)
		}
		if err == nil && got.String() != name {
			t.Errorf("Parse(%q).String() = %q", name, got.String())
		}
	}
}

func TestParseErrors(t *testing.T) {
	for name, want := range map[string]string{
		"":                  "want a key name, got an empty string",
		"enter":             `unknown key "enter" (did you mean ret?)`,
		"ctrl-alt-delet":    `unknown key "delet" in "ctrl-alt-delet" (did you mean delete?)`,
		"kpenter":           `(did you mean kp_enter?)`,
		"A":                 `unknown key "A" (did you mean a? key names are lower case; shift-a types a capital)`,
		"ctrl--c":           `has an empty part`,
		"shift-":            `has an empty part`,
		"ctrl-ctrl":         `holds ctrl twice`,
		"0x00":              `unknown key "0x00"`,
		"0x100":             `unknown key "0x100"`,
		"zzzzzzzzzzzzzzzzz": `the names are: shift shift_r alt`,
	} {
		_, err := Parse(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q): got %v, want an error containing %q", name, err, want)
		}
	}
	_, err := Parse("zzzzzzzzzzzzzzzzz")
	if strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a far name got a suggestion: %v", err)
	}
}

func TestForText(t *testing.T) {
	got, err := ForText("Hi!\n a-Z_\t|~")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range got {
		names = append(names, c.String())
	}
	want := "shift-h i shift-1 ret spc a minus shift-z shift-minus tab shift-backslash shift-grave_accent"
	if s := strings.Join(names, " "); s != want {
		t.Errorf("ForText = %s\nwant       %s", s, want)
	}
	// Every combo it makes is a key name.
	for r := rune(0); r < 128; r++ {
		c, err := ForChar(r)
		if err != nil {
			if r >= ' ' && r < 127 {
				t.Errorf("printable %q cannot be typed: %v", r, err)
			}
			continue
		}
		if _, err := Parse(c.String()); err != nil {
			t.Errorf("ForChar(%q) = %s, which Parse refuses: %v", r, c, err)
		}
	}
	if _, err := ForText("ok é"); err == nil || !strings.Contains(err.Error(), `at byte 3 of the text: character 'é' cannot be typed`) {
		t.Errorf("ForText with é: %v", err)
	}
}
