package samtemplate

import (
	"fmt"
	"io"
	"os"
	"regexp"
)

// Bounds on what a template may make the loader do. A template is read
// from a folder a person points the adapter at, but it may come from
// anywhere: its size, its names and what its intrinsic functions expand to
// are bounded, each with an error that says which bound was hit.

// MaxTemplateSize is the largest template loaded: CloudFormation's limit
// for a template in an Amazon S3 object, which is how `sam deploy` sends
// it: 1 MB ("Selecting a stack template", CloudFormation user guide; the
// quotas page said 460,800 bytes until the limit was raised; a
// TemplateBody passed inline is limited to 51,200 bytes). Read here as
// 1 MiB.
const MaxTemplateSize = 1 << 20

// maxExpandedString bounds any one string an intrinsic function produces
// (Fn::Sub, Fn::Join, Fn::Base64): nested Fn::Sub doubles a string per
// level, and 26 levels in 1.8 KB gave 1 GiB.
const maxExpandedString = MaxTemplateSize

// maxExpansion bounds the bytes all intrinsic functions of a template
// produce together, and so the loader's work: YAML aliases repeat one
// expansion as often as they like.
const maxExpansion = 32 << 20

// logicalID is CloudFormation's rule for a logical ID: alphanumeric
// (A-Za-z0-9), at most 255 characters. The emulator puts logical IDs in
// make targets (make build-<ID>) and paths (.aws-sam/build/<ID>), so the
// rule is what keeps them from being anything else.
var logicalID = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)

// checkLogicalID says why id is not a valid logical ID.
func checkLogicalID(id string) error {
	if !logicalID.MatchString(id) {
		return fmt.Errorf("logical ID %q must be alphanumeric (A-Za-z0-9), 1 to 255 characters, as CloudFormation requires", id)
	}
	return nil
}

// checkSize refuses a template over MaxTemplateSize.
func checkSize(n int64) error {
	if n > MaxTemplateSize {
		return fmt.Errorf("template is larger than %d bytes (%d), CloudFormation's limit", MaxTemplateSize, n)
	}
	return nil
}

// charge counts n more bytes of expansion against the template's bounds.
func (d *doc) charge(n int) error {
	if n > maxExpandedString {
		return fmt.Errorf("an intrinsic function expands to more than %d bytes", maxExpandedString)
	}
	d.expanded += int64(n) + 1
	if d.expanded > maxExpansion {
		return fmt.Errorf("the template's intrinsic functions expand to more than %d bytes in all", maxExpansion)
	}
	return nil
}

// charged is v, counted against the bounds if it is a string.
func (d *doc) charged(v any, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	s, _ := v.(string)
	if err := d.charge(len(s)); err != nil {
		return nil, err
	}
	return v, nil
}

// readTemplate reads the file at path, refusing one over MaxTemplateSize
// without reading it all.
func readTemplate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTemplateSize+1))
	if err != nil {
		return nil, err
	}
	if err := checkSize(int64(len(data))); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}
