package api

import "net/http"

// serveDiscovery is GET /fleet/v1/discovery: a Google API discovery
// document of this API, as fleet served one (api/discovery.go) for client
// generators. Like fleet's, its rootUrl is a placeholder the client sets.
func serveDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(discoveryJSON))
}

// discoveryJSON describes the schema package's shapes and the endpoints
// fleet clients use. Written for Flotilla; the field names are fleet's v1.
const discoveryJSON = `{
  "kind": "discovery#restDescription",
  "discoveryVersion": "v1",
  "id": "fleet:v1",
  "name": "fleet",
  "version": "v1",
  "title": "fleet API (Flotilla's fleetd)",
  "description": "Cluster-wide units, their states and the machines that run them.",
  "documentationLink": "https://github.com/coreos/fleet/blob/master/Documentation/api-v1.md",
  "protocol": "rest",
  "rootUrl": "$ENDPOINT/",
  "servicePath": "fleet/v1/",
  "batchPath": "batch",
  "parameters": {
    "nextPageToken": {"type": "string", "location": "query", "description": "Token of the page to return, from the previous page's nextPageToken."}
  },
  "schemas": {
    "UnitOption": {
      "id": "UnitOption", "type": "object",
      "properties": {
        "section": {"type": "string"},
        "name": {"type": "string"},
        "value": {"type": "string"}
      }
    },
    "Unit": {
      "id": "Unit", "type": "object",
      "properties": {
        "name": {"type": "string"},
        "options": {"type": "array", "items": {"$ref": "UnitOption"}},
        "desiredState": {"type": "string", "enum": ["inactive", "loaded", "launched"]},
        "currentState": {"type": "string", "enum": ["inactive", "loaded", "launched"]},
        "machineID": {"type": "string"}
      }
    },
    "UnitPage": {
      "id": "UnitPage", "type": "object",
      "properties": {
        "units": {"type": "array", "items": {"$ref": "Unit"}},
        "nextPageToken": {"type": "string"}
      }
    },
    "UnitState": {
      "id": "UnitState", "type": "object",
      "properties": {
        "name": {"type": "string"},
        "hash": {"type": "string"},
        "machineID": {"type": "string"},
        "systemdLoadState": {"type": "string"},
        "systemdActiveState": {"type": "string"},
        "systemdSubState": {"type": "string"}
      }
    },
    "UnitStatePage": {
      "id": "UnitStatePage", "type": "object",
      "properties": {
        "states": {"type": "array", "items": {"$ref": "UnitState"}},
        "nextPageToken": {"type": "string"}
      }
    },
    "Machine": {
      "id": "Machine", "type": "object",
      "properties": {
        "id": {"type": "string"},
        "primaryIP": {"type": "string"},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}}
      }
    },
    "MachinePage": {
      "id": "MachinePage", "type": "object",
      "properties": {
        "machines": {"type": "array", "items": {"$ref": "Machine"}},
        "nextPageToken": {"type": "string"}
      }
    }
  },
  "resources": {
    "Machines": {
      "methods": {
        "List": {"id": "fleet.Machine.List", "httpMethod": "GET", "path": "machines",
          "parameters": {"nextPageToken": {"type": "string", "location": "query"}},
          "response": {"$ref": "MachinePage"}}
      }
    },
    "Units": {
      "methods": {
        "List": {"id": "fleet.Unit.List", "httpMethod": "GET", "path": "units",
          "parameters": {"nextPageToken": {"type": "string", "location": "query"}},
          "response": {"$ref": "UnitPage"}},
        "Get": {"id": "fleet.Unit.Get", "httpMethod": "GET", "path": "units/{unitName}",
          "parameters": {"unitName": {"type": "string", "location": "path", "required": true}},
          "parameterOrder": ["unitName"], "response": {"$ref": "Unit"}},
        "Delete": {"id": "fleet.Unit.Delete", "httpMethod": "DELETE", "path": "units/{unitName}",
          "parameters": {"unitName": {"type": "string", "location": "path", "required": true}},
          "parameterOrder": ["unitName"]},
        "Set": {"id": "fleet.Unit.Set", "httpMethod": "PUT", "path": "units/{unitName}",
          "parameters": {"unitName": {"type": "string", "location": "path", "required": true}},
          "parameterOrder": ["unitName"], "request": {"$ref": "Unit"}}
      }
    },
    "UnitState": {
      "methods": {
        "List": {"id": "fleet.UnitState.List", "httpMethod": "GET", "path": "state",
          "parameters": {
            "nextPageToken": {"type": "string", "location": "query"},
            "unitName": {"type": "string", "location": "query"},
            "machineID": {"type": "string", "location": "query"}
          },
          "response": {"$ref": "UnitStatePage"}}
      }
    }
  }
}
`
