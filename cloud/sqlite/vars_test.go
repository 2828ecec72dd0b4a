package sqlite_test

import "github.com/frostline/frostline/cloud"

var cloudSite = cloud.Site{ID: "s1", Name: "Store one"}
