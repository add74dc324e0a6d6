"""The reference cloud endpoint for smart device cabinets: sync API, fleet data, enrolment."""
