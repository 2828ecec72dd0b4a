package http

import (
	"net/http"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// siteInScope answers ENOTFOUND for a site the caller may not see.
func siteInScope(c *caller, site string) error {
	if !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	return nil
}

// routesRegister registers the asset register's routes: sites and their
// assets.
func (s *Server) routesRegister() {
	s.api("GET /api/v1/sites", s.listSites)
	s.api("POST /api/v1/sites", s.createSite)
	s.api("GET /api/v1/sites/{site}", s.getSite)
	s.api("PUT /api/v1/sites/{site}", s.putSite)
	s.api("DELETE /api/v1/sites/{site}", s.deleteSite)
	s.api("GET /api/v1/sites/{site}/assets", s.listAssets)
	s.api("POST /api/v1/sites/{site}/assets", s.createAsset)
	s.api("GET /api/v1/sites/{site}/assets/{asset}", s.getAsset)
	s.api("PUT /api/v1/sites/{site}/assets/{asset}", s.putAsset)
	s.api("DELETE /api/v1/sites/{site}/assets/{asset}", s.deleteAsset)
	s.api("GET /api/v1/sites/{site}/assets/{asset}/history", s.assetHistory)
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request, c *caller) error {
	var only []string
	if !c.scope.All {
		only = append([]string{}, c.scope.Sites...)
	}
	sites, err := s.store.Sites(r.Context(), only)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": sites})
}

func (s *Server) getSite(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("site")
	if err := siteInScope(c, id); err != nil {
		return err
	}
	site, err := s.store.Site(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, site)
}

func (s *Server) createSite(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	if !c.scope.All {
		return cloud.Errorf(cloud.EFORBIDDEN, "only an admin or an FM for all regions may add sites")
	}
	var site cloud.Site
	if err := decodeJSON(w, r, &site); err != nil {
		return err
	}
	if err := site.Validate(); err != nil {
		return err
	}
	if _, err := s.store.Site(r.Context(), site.ID); err == nil {
		return cloud.Errorf(cloud.ECONFLICT, "site %s exists; PUT replaces it", site.ID)
	}
	if err := s.store.PutSite(r.Context(), &site); err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, site)
}

func (s *Server) putSite(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("site")
	if err := siteInScope(c, id); err != nil {
		return err
	}
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	var site cloud.Site
	if err := decodeJSON(w, r, &site); err != nil {
		return err
	}
	if site.ID == "" {
		site.ID = id
	}
	if site.ID != id {
		return cloud.FieldError("id", "does not match the URL")
	}
	if err := site.Validate(); err != nil {
		return err
	}
	if err := s.store.PutSite(r.Context(), &site); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, site)
}

func (s *Server) deleteSite(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("site")
	if err := siteInScope(c, id); err != nil {
		return err
	}
	if err := c.may(cloud.RoleAdmin); err != nil {
		return err
	}
	if err := s.store.DeleteSite(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listAssets(w http.ResponseWriter, r *http.Request, c *caller) error {
	site := r.PathValue("site")
	if err := siteInScope(c, site); err != nil {
		return err
	}
	if _, err := s.store.Site(r.Context(), site); err != nil {
		return err
	}
	as, err := s.store.Assets(r.Context(), site)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": as})
}

func (s *Server) getAsset(w http.ResponseWriter, r *http.Request, c *caller) error {
	site := r.PathValue("site")
	if err := siteInScope(c, site); err != nil {
		return err
	}
	a, err := s.store.Asset(r.Context(), site, r.PathValue("asset"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

func (s *Server) writeAsset(w http.ResponseWriter, r *http.Request, c *caller, id string, status int) error {
	site := r.PathValue("site")
	if err := siteInScope(c, site); err != nil {
		return err
	}
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	var a cloud.Asset
	if err := decodeJSON(w, r, &a); err != nil {
		return err
	}
	if a.Site == "" {
		a.Site = site
	}
	if a.Site != site {
		return cloud.FieldError("site", "does not match the URL")
	}
	if id != "" {
		if a.ID == "" {
			a.ID = id
		}
		if a.ID != id {
			return cloud.FieldError("id", "does not match the URL")
		}
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if status == http.StatusCreated {
		if _, err := s.store.Asset(r.Context(), a.Site, a.ID); err == nil {
			return cloud.Errorf(cloud.ECONFLICT, "asset %s/%s exists; PUT replaces it", a.Site, a.ID)
		}
	}
	if err := s.store.PutAsset(r.Context(), &a); err != nil {
		return err
	}
	return writeJSON(w, status, a)
}

func (s *Server) createAsset(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.writeAsset(w, r, c, "", http.StatusCreated)
}

func (s *Server) putAsset(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.writeAsset(w, r, c, r.PathValue("asset"), http.StatusOK)
}

func (s *Server) deleteAsset(w http.ResponseWriter, r *http.Request, c *caller) error {
	site := r.PathValue("site")
	if err := siteInScope(c, site); err != nil {
		return err
	}
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	if err := s.store.DeleteAsset(r.Context(), site, r.PathValue("asset")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// HistoryEntry is one work order in an asset's history.
type HistoryEntry struct {
	ID          string  `json:"id"`
	Number      int64   `json:"number"`
	Problem     string  `json:"problem"`
	Status      string  `json:"status"`
	Source      string  `json:"source"`
	CreatedAt   string  `json:"created_at"`
	Cause       string  `json:"cause,omitempty"`
	Remedy      string  `json:"remedy,omitempty"`
	Cost        float64 `json:"cost"`
	Recall      bool    `json:"recall,omitempty"`
	Recommended string  `json:"recommendations,omitempty"`
	// Parts and Labour are what the completion recorded.
	Parts  []workorder.Part   `json:"parts,omitempty"`
	Labour []workorder.Labour `json:"labour,omitempty"`
}

// History is an asset's record: every work order, its costs, and whether
// to keep repairing it.
type History struct {
	Asset      *cloud.Asset   `json:"asset"`
	WorkOrders []HistoryEntry `json:"work_orders"`
	RepairCost float64        `json:"cumulative_repair_cost"`
	Recalls    int            `json:"recalls"`
	Verdict    cloud.Verdict  `json:"repair_vs_replace"`
}

func (s *Server) assetHistory(w http.ResponseWriter, r *http.Request, c *caller) error {
	site, id := r.PathValue("site"), r.PathValue("asset")
	if err := siteInScope(c, site); err != nil {
		return err
	}
	h, err := s.history(r, site, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h)
}

func (s *Server) history(r *http.Request, site, id string) (*History, error) {
	a, err := s.store.Asset(r.Context(), site, id)
	if err != nil {
		return nil, err
	}
	h := &History{Asset: a, WorkOrders: []HistoryEntry{}}
	var before int64
	for {
		ws, err := s.store.WorkOrders(r.Context(), workorder.Filter{Site: site, Asset: id, Before: before, Limit: 500, Scope: cloud.Scope{All: true}})
		if err != nil {
			return nil, err
		}
		for _, wo := range ws {
			e := HistoryEntry{ID: wo.ID, Number: wo.Number, Problem: wo.Problem, Status: string(wo.Status), Source: string(wo.Source),
				CreatedAt: wo.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), Recall: wo.Recall}
			if c := wo.Completion; c != nil {
				e.Cause, e.Remedy, e.Cost, e.Recommended = c.Cause, c.Remedy, c.Cost(), c.Recommendations
				e.Parts, e.Labour = c.Parts, c.Labour
			}
			h.RepairCost += e.Cost
			if wo.Recall {
				h.Recalls++
			}
			h.WorkOrders = append(h.WorkOrders, e)
			before = wo.Number
		}
		if len(ws) < 500 {
			break
		}
	}
	h.Verdict = cloud.RepairOrReplace(a, h.RepairCost, s.now())
	return h, nil
}
