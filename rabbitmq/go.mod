module github.com/workerpool-go/workerpool/rabbitmq

go 1.25.0

require (
	github.com/rabbitmq/amqp091-go v1.16.0
	github.com/stretchr/testify v1.12.1
	github.com/workerpool-go/workerpool v0.0.0
	go.uber.org/goleak v1.3.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

replace github.com/workerpool-go/workerpool => ../
