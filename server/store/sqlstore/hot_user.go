package sqlstore

import (
	"time"

	"github.com/argus-exec/argus/server/store"
)

// userHotQueries are the queries of what users do most and what the web UI
// polls (its pages refresh themselves): a rerun, the agents list, the home
// page's hosts and batches, and a batch's runs. Each reads the caller's
// own rows, a page at a time, not every agent, batch or run there is.
func userHotQueries() []HotQuery {
	next := store.Page{Limit: 100, After: &store.Key{CreatedAt: time.Unix(1, 0), ID: "x"}}
	first := store.Page{Limit: 100}
	return []HotQuery{
		{Name: "rerun and UI: the caller's name", SQL: userByIDSQL, Args: []any{"u-1"}, Indexes: usersPK},
		{Name: "rerun: the batch", SQL: batchByIDSQL, Args: []any{"bat-1"}, Indexes: batchesPK},
		{Name: "rerun: its project's owner", SQL: projectOwnerSQL, Args: []any{"p"}, Indexes: []string{"sqlite_autoindex_projects_1", "projects_pkey"}},
		{Name: "rerun: its project's recipients", SQL: projectRecipientsSQL, Args: []any{"p"}, Indexes: []string{"sqlite_autoindex_project_recipients_1", "project_recipients_pkey"}},
		{Name: "rerun: the owner's agents on the batch's host", SQL: agentsOnHostSQL, Args: []any{"u-1", "gpu-01"}, Indexes: []string{"agents_user_host"}},

		paged(listAgentsSQL("u-1", first)).as("agents list and UI home: the caller's agents", "agents_user_created", "agents_user_host"),
		paged(listAgentsSQL("u-1", next)).as("agents list and UI home: the next page", "agents_user_created", "agents_user_host"),
		paged(listRunsSQL("u-1", store.RunFilter{BatchID: "bat-1"}, first)).as("batch page: its runs", "runs_batch_created"),
	}
}

// paged is a paged list's query as the store builds it; as names it.
func paged(query string, args []any, err error) HotQuery {
	if err != nil {
		panic(err) // only a page limit below 1 fails
	}
	return HotQuery{SQL: query, Args: args}
}

func (q HotQuery) as(name string, indexes ...string) HotQuery {
	q.Name, q.Indexes = name, indexes
	return q
}
