"""monitor: scheduled drift monitoring of the serving endpoint (README "Monitoring")."""
