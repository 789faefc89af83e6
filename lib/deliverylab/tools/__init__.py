"""The commands around the course, which notebooks never import: the `deliverylab` command
(`cli`, its experiment subcommands in `cli_experiments`), `deliverylab lab` (`lab`: JupyterLab with
the cluster up) and the headless course runner (`course_runner`: python -m deliverylab.tools.course_runner)."""
