package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path over Default. Unknown keys
// and values of the wrong type or form are errors naming their field path.
// It does not Validate: apply env and flags first, then Validate.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes data over Default; see Load.
func Parse(data []byte) (*Config, error) {
	c := Default()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, err // a syntax error: "yaml: line N: …"
	}
	if root.Kind == 0 { // empty file
		return c, nil
	}
	// Pass 1: strict decode (unknown keys, types, forms), errors mapped to
	// field paths. Volumes come out zeroed: yaml makes new slice elements.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, pathErrors(err, &root)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document; want one")
	}
	// Pass 2: decode each volume again over DefaultVolume, so keys a
	// volume leaves out keep their defaults. Pass 1 already checked them.
	if vs := volumesNode(&root); vs != nil {
		c.Volumes = make([]VolumeConfig, len(vs.Content))
		for i, n := range vs.Content {
			c.Volumes[i] = DefaultVolume()
			if err := n.Decode(&c.Volumes[i]); err != nil {
				return nil, pathErrors(err, &root)
			}
		}
	}
	return c, nil
}

// volumesNode returns the sequence under the top-level key volumes, or nil.
func volumesNode(root *yaml.Node) *yaml.Node {
	doc := yamlDeref(root)
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = yamlDeref(doc.Content[0])
	}
	if doc.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "volumes" {
			if v := yamlDeref(doc.Content[i+1]); v.Kind == yaml.SequenceNode {
				return v
			}
		}
	}
	return nil
}

func yamlDeref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
