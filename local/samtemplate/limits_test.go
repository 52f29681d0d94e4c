package samtemplate

import (
	"fmt"
	"strings"
	"testing"
)

// A logical ID is alphanumeric, as CloudFormation requires: one that could
// reach a make target or a path (Fn:=$(shell ...), ../x) is refused.
func TestLogicalIDsAlphanumeric(t *testing.T) {
	for _, id := range []string{"Fn:=$(shell touch PWNED)", "../../tmp/x", "Fn.Dot", "Fn-Dash", "Fn_Under", ""} {
		t.Run(id, func(t *testing.T) {
			tpl := inline("", inlineFn+fmt.Sprintf("\n  %q:\n    Type: AWS::Serverless::Function\n    Properties: {Runtime: provided.al2023, Handler: bootstrap}\n", id))
			_, err := Parse([]byte(tpl), Options{})
			if err == nil || !strings.Contains(err.Error(), "logical ID") {
				t.Fatalf("Parse: %v, want a logical ID error", err)
			}
		})
	}
}

func TestTemplateSizeBounded(t *testing.T) {
	big := inline("", inlineFn) + "\n# " + strings.Repeat("x", MaxTemplateSize) + "\n"
	_, err := Parse([]byte(big), Options{})
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Parse of %d bytes: %v, want a size error", len(big), err)
	}
}

// nestedSub is a condition that doubles a string once per level, as in
// the report (26 levels in 1.8 KB expanded to 1 GiB).
func nestedSub(levels int) string {
	v := `"0123456789abcdef"`
	for range levels {
		v = fmt.Sprintf(`{"Fn::Sub": ["${x}${x}", {"x": %s}]}`, v)
	}
	return `
Conditions:
  Big: {"Fn::Equals": [` + v + `, "x"]}
`
}

func TestIntrinsicExpansionBounded(t *testing.T) {
	t.Run("one string", func(t *testing.T) {
		// 2^20 * 16 bytes = 16 MiB, over the bound on one string.
		tpl := nestedSub(20) + inline("", inlineFn) + `
  Gated:
    Type: AWS::SNS::Topic
    Condition: Big
`
		_, err := Parse([]byte(tpl), Options{})
		if err == nil || !strings.Contains(err.Error(), "to more than") {
			t.Fatalf("Parse: %v, want an expansion error", err)
		}
	})
	t.Run("total work", func(t *testing.T) {
		// Each string is under the bound; together they are not. YAML
		// aliases repeat one 512 KiB Fn::Sub 200 times.
		var b strings.Builder
		for i := range 200 {
			fmt.Fprintf(&b, "          V%d: *big\n", i)
		}
		vars := b.String()
		b.Reset()
		b.WriteString("Mappings:\n  M:\n    K:\n      V: &big {\"Fn::Sub\": [\"${x}${x}\", {\"x\": " + `"` + strings.Repeat("y", 256<<10) + `"` + "}]}\n")
		tpl := b.String() + inline("", `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: x
      Handler: bootstrap
      Runtime: provided.al2023
      Environment:
        Variables:
`+vars)
		_, err := Parse([]byte(tpl), Options{})
		if err == nil || !strings.Contains(err.Error(), "to more than") {
			t.Fatalf("Parse: %v, want an expansion error", err)
		}
	})
	t.Run("split", func(t *testing.T) {
		// Fn::Split of one 256 KiB string, repeated by aliases: lists of
		// 128 Ki strings each.
		var b strings.Builder
		for i := range 200 {
			fmt.Fprintf(&b, "          V%d: *split\n", i)
		}
		vars := b.String()
		tpl := "Mappings:\n  M:\n    K:\n      V: &split {\"Fn::Split\": [\",\", \"" + strings.Repeat("y,", 128<<10) + "\"]}\n" + inline("", `
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: x
      Handler: bootstrap
      Runtime: provided.al2023
      Environment:
        Variables:
`+vars)
		_, err := Parse([]byte(tpl), Options{})
		if err == nil || !strings.Contains(err.Error(), "to more than") {
			t.Fatalf("Parse: %.300v, want an expansion error", err)
		}
	})
}
