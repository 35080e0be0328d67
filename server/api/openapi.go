package api

import _ "embed" // for OpenAPI

// OpenAPI is openapi.yaml, the OpenAPI 3.0.3 document of every JSON route
// of argus-server: paths, parameters, bodies, status codes and their
// schemas. It is the API's reference, served at GET /api/openapi.yaml, and
// internal/apispec validates the server's test traffic against it, so a
// change to a handler or to a type in this package that the document does
// not follow fails the tests.
//
//go:embed openapi.yaml
var OpenAPI []byte
