package samtemplate

import (
	"fmt"
	"maps"
	"slices"
)

// Table is an AWS::DynamoDB::Table or AWS::Serverless::SimpleTable of the
// template, for the emulator to create in DynamoDB Local.
type Table struct {
	LogicalID string
	// Name is the table's local name: what Ref gives (Options.Resource's
	// value, else TableName, else the logical ID).
	Name string
	// ARN is what Fn::GetAtt Table.Arn gives.
	ARN                  string
	KeySchema            []KeyElement
	AttributeDefinitions []Attribute
	GlobalIndexes        []Index
	LocalIndexes         []Index
	// TTLAttribute is TimeToLiveSpecification's attribute when enabled.
	TTLAttribute string
}

// KeyElement is one key attribute: KeyType HASH or RANGE.
type KeyElement struct{ AttributeName, KeyType string }

// Attribute is an attribute definition: AttributeType S, N or B.
type Attribute struct{ AttributeName, AttributeType string }

// Index is a secondary index.
type Index struct {
	IndexName string
	KeySchema []KeyElement
	// ProjectionType is ALL, KEYS_ONLY or INCLUDE (with NonKeyAttributes).
	ProjectionType   string
	NonKeyAttributes []string
}

const (
	typeDynamoDBTable = "AWS::DynamoDB::Table"
	typeSimpleTable   = "AWS::Serverless::SimpleTable"
)

func isTable(typ string) bool { return typ == typeDynamoDBTable || typ == typeSimpleTable }

// tableName is a table's local physical name: its TableName, else its
// logical ID (deployed, CloudFormation would generate one).
func (d *doc) tableName(r *resource) string {
	if v, ok := r.Props["TableName"]; ok {
		if s, err := d.eval(v, nil); err == nil {
			if s, ok := s.(string); ok && s != "" {
				return s
			}
		}
	}
	return r.ID
}

func (d *doc) tableARN(name string) string {
	return "arn:aws:dynamodb:" + d.opts.Region + ":" + AccountID + ":table/" + name
}

// buildTables reads every table of the template. A table whose layout
// cannot be read is a warning (it is not created), not an error: the API
// may run without it.
func (d *doc) buildTables(rp *report) []*Table {
	var out []*Table
	for _, id := range slices.Sorted(maps.Keys(d.resources)) {
		r := d.resources[id]
		if !isTable(r.Type) {
			continue
		}
		name, err := d.ref(id, &tracker{})
		if err != nil {
			rp.warnf(r, "table name: %v", err)
			continue
		}
		t := &Table{LogicalID: id, Name: fmt.Sprint(name)}
		t.ARN = d.tableARN(t.Name)
		if r.Type == typeSimpleTable {
			err = d.simpleTable(r, t)
		} else {
			err = d.dynamoDBTable(r, t)
		}
		if err != nil {
			rp.warnf(r, "not created locally: %v", err)
			continue
		}
		out = append(out, t)
	}
	return out
}

// simpleTable reads SimpleTable's PrimaryKey (id, String by default).
func (d *doc) simpleTable(r *resource, t *Table) error {
	key := map[string]any{"Name": "id", "Type": "String"}
	if v, ok := r.Props["PrimaryKey"]; ok {
		e, err := d.eval(v, nil)
		if err != nil {
			return fmt.Errorf("PrimaryKey: %w", err)
		}
		m, ok := e.(map[string]any)
		if !ok {
			return fmt.Errorf("PrimaryKey is not a mapping")
		}
		maps.Copy(key, m)
	}
	name, _ := key["Name"].(string)
	types := map[string]string{"String": "S", "Number": "N", "Binary": "B"}
	typ, ok := types[fmt.Sprint(key["Type"])]
	if name == "" || !ok {
		return fmt.Errorf("PrimaryKey %v: want a Name and a Type of String, Number or Binary", key)
	}
	t.KeySchema = []KeyElement{{name, "HASH"}}
	t.AttributeDefinitions = []Attribute{{name, typ}}
	return nil
}

// dynamoDBTable reads an AWS::DynamoDB::Table's keys, indexes and TTL.
func (d *doc) dynamoDBTable(r *resource, t *Table) error {
	get := func(name string) (any, error) {
		v, ok := r.Props[name]
		if !ok {
			return nil, nil
		}
		e, err := d.eval(v, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, absent := e.(noValue); absent {
			return nil, nil
		}
		return e, nil
	}
	ks, err := get("KeySchema")
	if err != nil {
		return err
	}
	if t.KeySchema, err = keySchema(ks); err != nil {
		return fmt.Errorf("KeySchema: %w", err)
	}
	defs, err := get("AttributeDefinitions")
	if err != nil {
		return err
	}
	for _, a := range asList(defs) {
		m, _ := a.(map[string]any)
		name, _ := m["AttributeName"].(string)
		typ, _ := m["AttributeType"].(string)
		if name == "" || typ == "" {
			return fmt.Errorf("AttributeDefinitions: %v lacks AttributeName or AttributeType", a)
		}
		t.AttributeDefinitions = append(t.AttributeDefinitions, Attribute{name, typ})
	}
	for prop, dst := range map[string]*[]Index{"GlobalSecondaryIndexes": &t.GlobalIndexes, "LocalSecondaryIndexes": &t.LocalIndexes} {
		v, err := get(prop)
		if err != nil {
			return err
		}
		for _, ix := range asList(v) {
			m, _ := ix.(map[string]any)
			in := Index{ProjectionType: "ALL"}
			in.IndexName, _ = m["IndexName"].(string)
			if in.KeySchema, err = keySchema(m["KeySchema"]); err != nil || in.IndexName == "" {
				return fmt.Errorf("%s: %v: want IndexName and KeySchema", prop, ix)
			}
			if p, ok := m["Projection"].(map[string]any); ok {
				if pt, ok := p["ProjectionType"].(string); ok {
					in.ProjectionType = pt
				}
				for _, a := range asList(p["NonKeyAttributes"]) {
					in.NonKeyAttributes = append(in.NonKeyAttributes, fmt.Sprint(a))
				}
			}
			*dst = append(*dst, in)
		}
	}
	ttl, err := get("TimeToLiveSpecification")
	if err != nil {
		return err
	}
	if m, ok := ttl.(map[string]any); ok && fmt.Sprint(m["Enabled"]) == "true" {
		t.TTLAttribute, _ = m["AttributeName"].(string)
	}
	return nil
}

func keySchema(v any) ([]KeyElement, error) {
	var out []KeyElement
	for _, k := range asList(v) {
		m, _ := k.(map[string]any)
		name, _ := m["AttributeName"].(string)
		typ, _ := m["KeyType"].(string)
		if name == "" || (typ != "HASH" && typ != "RANGE") {
			return nil, fmt.Errorf("%v: want AttributeName and KeyType HASH or RANGE", k)
		}
		out = append(out, KeyElement{name, typ})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("missing")
	}
	return out, nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
