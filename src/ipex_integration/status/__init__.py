"""`ipex status`: a table of components, each ok / warning / missing / error with the fix."""
