module plugvisor.example/goplugin

go 1.19
