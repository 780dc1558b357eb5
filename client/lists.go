package client

import (
	"context"
	"io"
)

// BaselineProfiles lists the security-baseline profiles (GET /api/baselineProfiles),
// following @odata.nextLink if the service sends one.
func (c *Client) BaselineProfiles(ctx context.Context) ([]Profile, error) {
	return readList(ctx, c, EndpointProfiles, profilesPath, decodeProfilesPage)
}

// BaselineConfigurations lists the benchmark items of the active profiles
// (GET /api/baselineConfigurations), following @odata.nextLink if the service
// sends one.
func (c *Client) BaselineConfigurations(ctx context.Context) ([]Configuration, error) {
	return readList(ctx, c, EndpointConfigurations, configurationsPath, decodeConfigurationsPage)
}

// readList reads every page of a list endpoint, with the same nextLink checks as
// the assessment pagination.
func readList[T any](ctx context.Context, c *Client, endpoint Endpoint, path string,
	decode func(io.Reader) ([]T, string, error),
) ([]T, error) {
	first := c.apiURL(path, nil)
	pages := c.newCursor(first)

	var all []T
	for link := first; link != ""; {
		items, nextLink, err := readListPage(ctx, c, endpoint, link, decode)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)

		if link, err = pages.follow(link, nextLink); err != nil {
			return nil, err
		}
	}

	return all, nil
}

func readListPage[T any](ctx context.Context, c *Client, endpoint Endpoint, link string,
	decode func(io.Reader) ([]T, string, error),
) ([]T, string, error) {
	body, err := c.get(ctx, request{endpoint: endpoint, url: link, bearer: true})
	if err != nil {
		return nil, "", err
	}
	defer body.Close()

	items, nextLink, err := decode(body)
	if err != nil {
		return nil, "", body.readFailure(string(endpoint), err)
	}

	return items, nextLink, nil
}
