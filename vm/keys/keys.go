// Package keys names the keys of a machine's keyboard as scripts write
// them and turns text into key presses.
//
// A key name is what the NixOS test driver's send_key takes: QEMU's key
// codes (qcodes, as QMP send-key knows them), joined by "-" for keys held
// together: "ret", "esc", "a", "shift-a", "alt-f2", "ctrl-alt-delete",
// "kp_enter". A part may also be a raw key code in hex ("0x1c"), which
// QEMU sends to the guest unchanged. Text is typed with a US layout.
//
// The package has no state; everything in it is safe for concurrent use.
package keys

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/lang"
)

// Combo is one press: keys held down together, in order (modifiers
// first), and released together. Each element is a qcode ("ctrl") or a
// raw key code in hex ("0x1c").
type Combo []string

// String returns the combo's name, which Parse reads back.
func (c Combo) String() string { return strings.Join(c, "-") }

// qcodes are QEMU 7.2's QKeyCode values (qapi/ui.json) less "unmapped",
// in QEMU's order, which follows the keyboard.
var qcodes = []string{
	"shift", "shift_r", "alt", "alt_r", "ctrl", "ctrl_r", "menu", "esc",
	"1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "minus", "equal", "backspace",
	"tab", "q", "w", "e", "r", "t", "y", "u", "i", "o", "p", "bracket_left", "bracket_right",
	"ret", "a", "s", "d", "f", "g", "h", "j", "k", "l", "semicolon", "apostrophe", "grave_accent",
	"backslash", "z", "x", "c", "v", "b", "n", "m", "comma", "dot", "slash",
	"asterisk", "spc", "caps_lock",
	"f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10",
	"num_lock", "scroll_lock", "kp_divide", "kp_multiply", "kp_subtract", "kp_add", "kp_enter",
	"kp_decimal", "sysrq", "kp_0", "kp_1", "kp_2", "kp_3", "kp_4", "kp_5", "kp_6", "kp_7", "kp_8", "kp_9",
	"less", "f11", "f12", "print", "home", "pgup", "pgdn", "end", "left", "up", "down", "right",
	"insert", "delete", "stop", "again", "props", "undo", "front", "copy", "open", "paste", "find", "cut",
	"lf", "help", "meta_l", "meta_r", "compose", "pause",
	"ro", "hiragana", "henkan", "yen", "muhenkan", "katakanahiragana",
	"kp_comma", "kp_equals", "power", "sleep", "wake",
	"audionext", "audioprev", "audiostop", "audioplay", "audiomute", "volumeup", "volumedown", "mediaselect",
	"mail", "calculator", "computer", "ac_home", "ac_back", "ac_forward", "ac_refresh", "ac_bookmarks",
	"lang1", "lang2",
}

// Names returns every key name a combo is made of, in QEMU's order (which
// follows the keyboard). Each call returns a new slice.
func Names() []string { return slices.Clone(qcodes) }

// otherNames are names other programs give keys, and the qcode meant; an
// unknown name among them is answered with that qcode.
var otherNames = map[string]string{
	"enter": "ret", "return": "ret", "space": "spc", "escape": "esc", "del": "delete",
	"control": "ctrl", "pageup": "pgup", "pagedown": "pgdn", "page_up": "pgup", "page_down": "pgdn",
	"win": "meta_l", "super": "meta_l", "meta": "meta_l", "capslock": "caps_lock", "bksp": "backspace",
	"ins": "insert", "period": "dot", "plus": "shift-equal", "altgr": "alt_r", "prtsc": "print",
}

// Parse returns the combo a key name stands for. An unknown part is an
// error that suggests the nearest name and lists the valid ones.
func Parse(name string) (Combo, error) {
	if name == "" {
		return nil, fmt.Errorf("want a key name, got an empty string")
	}
	parts := strings.Split(name, "-")
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("key name %q has an empty part: want names joined by single dashes, such as ctrl-alt-delete", name)
		}
		if slices.Contains(qcodes, p) || isCode(p) {
			if slices.Contains(parts[:i], p) {
				return nil, fmt.Errorf("key name %q holds %s twice", name, p)
			}
			continue
		}
		return nil, unknown(name, p)
	}
	return Combo(parts), nil
}

// isCode reports whether p is a raw key code: "0x" and two hex digits,
// not zero.
func isCode(p string) bool {
	if len(p) != 4 || !strings.HasPrefix(p, "0x") {
		return false
	}
	n, err := strconv.ParseUint(p[2:], 16, 8)
	return err == nil && n > 0
}

// unknown is the error of name whose part p is not a key.
func unknown(name, p string) error {
	msg := fmt.Sprintf("unknown key %q", p)
	if p != name {
		msg += fmt.Sprintf(" in %q", name)
	}
	if want, ok := otherNames[strings.ToLower(p)]; ok {
		msg += fmt.Sprintf(" (did you mean %s?)", want)
	} else if lower := strings.ToLower(p); lower != p && (slices.Contains(qcodes, lower)) {
		msg += fmt.Sprintf(" (did you mean %s? key names are lower case; shift-%s types a capital)", lower, lower)
	} else if s := lang.Suggest(p, qcodes); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return fmt.Errorf("%s: want QEMU key names joined by -, such as ctrl-alt-delete; the names are: %s", msg, strings.Join(qcodes, " "))
}

// shifted maps the characters typed with shift on a US keyboard to the
// key pressed with it; unshifted the other printable ones that are not a
// letter or digit.
var (
	shifted = map[rune]string{
		'!': "1", '@': "2", '#': "3", '$': "4", '%': "5", '^': "6", '&': "7", '*': "8", '(': "9", ')': "0",
		'_': "minus", '+': "equal", '{': "bracket_left", '}': "bracket_right", ':': "semicolon",
		'"': "apostrophe", '~': "grave_accent", '|': "backslash", '<': "comma", '>': "dot", '?': "slash",
	}
	unshifted = map[rune]string{
		' ': "spc", '\n': "ret", '\t': "tab",
		'-': "minus", '=': "equal", '[': "bracket_left", ']': "bracket_right", ';': "semicolon",
		'\'': "apostrophe", '`': "grave_accent", '\\': "backslash", ',': "comma", '.': "dot", '/': "slash",
	}
)

// ForChar returns the combo that types r on a US keyboard: a letter or
// digit, shift and a letter for a capital, shift for the upper symbols,
// "spc", "ret" for "\n" and "tab" for "\t". Any other character is an
// error.
func ForChar(r rune) (Combo, error) {
	switch {
	case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		return Combo{string(r)}, nil
	case r >= 'A' && r <= 'Z':
		return Combo{"shift", string(r - 'A' + 'a')}, nil
	}
	if k, ok := unshifted[r]; ok {
		return Combo{k}, nil
	}
	if k, ok := shifted[r]; ok {
		return Combo{"shift", k}, nil
	}
	return nil, fmt.Errorf("character %q cannot be typed: want ASCII letters, digits, punctuation, space, \\n or \\t (a US keyboard); send other keys with send_keys", r)
}

// ForText returns the combos that type text, one per character, or the
// error of the first character that cannot be typed, with its position.
func ForText(text string) ([]Combo, error) {
	var out []Combo
	for i, r := range text {
		c, err := ForChar(r)
		if err != nil {
			return nil, fmt.Errorf("at byte %d of the text: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}
