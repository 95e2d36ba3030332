module plugvisor.example/plugin-go-text

go 1.19
