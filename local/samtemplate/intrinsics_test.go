package samtemplate

import (
	"maps"
	"reflect"
	"strings"
	"testing"
)

const intrinsicsHead = `
Parameters:
  Env: {Type: String, Default: prod}
  Size: {Type: Number, Default: 3}
  Zones: {Type: CommaDelimitedList, Default: "a,b,c"}
Mappings:
  Sizes:
    prod: {mem: 512}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Equals [!Ref Size, "3"]]
  Either: !Or [!Condition IsDev, !Equals ["x", "y"]]
Resources:
  Fn: {Type: AWS::Serverless::Function}
  Table: {Type: AWS::DynamoDB::Table}
  X:
    Type: AWS::SNS::Topic
    Properties:
      V: `

func evalExpr(t *testing.T, expr string, opts Options) (any, error) {
	t.Helper()
	d, rp, err := newDoc("t", []byte(intrinsicsHead+expr+"\n"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.errs) > 0 {
		t.Fatal(rp.errs)
	}
	return d.eval(d.resources["X"].Props["V"], nil)
}

func TestIntrinsics(t *testing.T) {
	tests := []struct {
		name, expr string
		params     map[string]string
		want       any
		err        string
	}{
		{name: "ref param", expr: "!Ref Env", want: "prod"},
		{name: "ref override", expr: "!Ref Env", params: map[string]string{"Env": "dev"}, want: "dev"},
		{name: "ref list param", expr: "!Ref Zones", want: []any{"a", "b", "c"}},
		{name: "ref resource", expr: "!Ref Table", want: "Table"},
		{name: "ref pseudo", expr: `!Join [":", [!Ref AWS::Region, !Ref AWS::AccountId, !Ref AWS::StackName, !Ref AWS::Partition, !Ref AWS::URLSuffix]]`,
			want: "eu-west-1:123456789012:local:aws:amazonaws.com"},
		{name: "long form", expr: `{"Fn::Join": ["-", [{"Ref": "Env"}, {"Fn::GetAtt": ["Fn", "Arn"]}]]}`,
			want: "prod-arn:aws:lambda:eu-west-1:123456789012:function:Fn"},
		{name: "if true", expr: "!If [IsProd, big, small]", want: "big"},
		{name: "if false", expr: "!If [IsProd, big, small]", params: map[string]string{"Env": "dev"}, want: "small"},
		{name: "if and", expr: "!If [Both, yes, no]", want: "yes"},
		{name: "if or", expr: "!If [Either, yes, no]", want: "no"},
		{name: "if novalue", expr: "{a: !If [IsProd, !Ref AWS::NoValue, 1], b: 2, c: [1, !Ref AWS::NoValue]}",
			want: map[string]any{"b": 2, "c": []any{1}}},
		{name: "sub param and arn", expr: `!Sub "${Env}/${Fn.Arn}/${Size}/${AWS::Region}/${!Literal}"`,
			want: "prod/arn:aws:lambda:eu-west-1:123456789012:function:Fn/3/eu-west-1/${Literal}"},
		{name: "sub two args", expr: `!Sub ["${A}-${Env}", {A: !Ref Table}]`, want: "Table-prod"},
		{name: "sub multiline", expr: "!Sub |\n        env=${Env}", want: "env=prod\n"},
		{name: "join select split", expr: `!Join ["+", [!Select [1, !Ref Zones], !Select [0, !Split ["/", "x/y"]]]]`, want: "b+x"},
		{name: "find in map", expr: "!FindInMap [Sizes, !Ref Env, mem]", want: 512},
		{name: "base64", expr: "!Base64 hi", want: "aGk="},
		{name: "import hook", expr: "!ImportValue shared-table", want: "imported-shared-table"},
		{name: "getatt hook", expr: "!GetAtt Table.StreamArn", want: "stream-of-Table"},
		{name: "select range", expr: "!Select [5, [a]]", err: "index 5 out of range"},
		{name: "unknown ref", expr: "!Ref Nope", err: "Ref to unknown name Nope"},
		{name: "unknown condition", expr: "!If [Nope, a, b]", err: "unknown condition Nope"},
		{name: "getatt unknown attr", expr: "!GetAtt Fn.Nope", err: "Fn::GetAtt Fn.Nope cannot be resolved locally"},
		{name: "sub unterminated", expr: `!Sub "${Env"`, err: "unterminated"},
		{name: "join of map", expr: `!Join ["", [{a: 1}]]`, err: "a mapping where a string is wanted"},
		{name: "bad if", expr: "!If [IsProd]", err: "Fn::If: want"},
		{name: "unsupported fn", expr: "!Cidr [a, 1, 2]", err: "Fn::Cidr is not supported"},
	}
	hook := func(id, typ, attr string) (string, bool) {
		switch {
		case typ == "Fn::ImportValue":
			return "imported-" + id, true
		case typ == "AWS::DynamoDB::Table" && attr == "StreamArn":
			return "stream-of-" + id, true
		}
		return "", false
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := evalExpr(t, tt.expr, Options{Parameters: tt.params, Region: "eu-west-1", Resource: hook})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestAllowedValues(t *testing.T) {
	src := "Parameters:\n  P: {Type: String, Default: a, AllowedValues: [a, b]}\nResources: {}\n"
	_, rp, _ := newDoc("t", []byte(src), Options{Parameters: map[string]string{"P": "c"}})
	if len(rp.errs) != 1 || !strings.Contains(rp.errs[0].Error(), `"c" is not one of its AllowedValues`) {
		t.Errorf("errs: %v", rp.errs)
	}
}

func TestParseParameterOverrides(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
		err  string
	}{
		{in: "", want: map[string]string{}},
		{in: "Stage=dev Burst=20", want: map[string]string{"Stage": "dev", "Burst": "20"}},
		{in: `Key1=Value1 Key2="value with spaces"`, want: map[string]string{"Key1": "Value1", "Key2": "value with spaces"}},
		{in: `Key='single quoted' Other=a\ b`, want: map[string]string{"Key": "single quoted", "Other": "a b"}},
		{in: `ParameterKey=K,ParameterValue=V ParameterKey=L,ParameterValue="x y"`, want: map[string]string{"K": "V", "L": "x y"}},
		{in: `Mixed=1 ParameterKey=K,ParameterValue=a=b,c`, want: map[string]string{"Mixed": "1", "K": "a=b,c"}},
		{in: `Empty= Quote="say \"hi\""`, want: map[string]string{"Empty": "", "Quote": `say "hi"`}},
		{in: "  A=1\n\tB=2  ", want: map[string]string{"A": "1", "B": "2"}},
		{in: "novalue", err: "want Key=Value"},
		{in: "=x", err: "want Key=Value"},
		{in: "bad-name=x", err: "is not a parameter name"},
		{in: `A="open`, err: "unterminated"},
		{in: "ParameterKey=K", err: "ParameterKey=Key,ParameterValue=Value"},
		{in: "ParameterKey=K,Value=V", err: "ParameterKey=Key,ParameterValue=Value"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseParameterOverrides(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
