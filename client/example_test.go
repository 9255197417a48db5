package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/boomerang-dev/boomerang/client"
)

// A task scheduled for later, then canceled.
func ExampleClient_CreateTask() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("BOOMERANG_URL"), os.Getenv("BOOMERANG_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	task, err := c.CreateTask(ctx, "https://api.example.com/reports",
		client.WithPayload(map[string]any{"month": "2026-01"}),
		client.WithWebhook("https://app.example.com/hooks/boomerang"),
		client.WithRetries(5),
		client.WithTimeout(2*time.Minute),
		client.WithDelay(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(task.Status, string(task.Payload))
	canceled, err := c.CancelTask(ctx, task.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(canceled.Status)
	// Output:
	// pending {"month":"2026-01"}
	// canceled
}

// Create a task and wait for it to finish, then replay it.
func ExampleClient_WaitTask() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(os.Getenv("BOOMERANG_URL"), os.Getenv("BOOMERANG_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	task, err := c.CreateTask(ctx, os.Getenv("EXAMPLE_TARGET_URL"), client.WithPayload(map[string]int{"n": 1}))
	if err != nil {
		log.Fatal(err)
	}
	done, err := c.WaitTask(ctx, task.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(done.Status, done.Result.StatusCode, string(done.Result.Body))
	replay, err := c.ReplayTask(ctx, task.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(replay.ReplayOf == task.ID)
	// Output:
	// succeeded 200 {"ok":true}
	// true
}

// Follow a task's events until it has settled.
func ExampleClient_TaskEvents() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(os.Getenv("BOOMERANG_URL"), os.Getenv("BOOMERANG_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	task, err := c.CreateTask(ctx, os.Getenv("EXAMPLE_TARGET_URL"))
	if err != nil {
		log.Fatal(err)
	}
	for e, err := range c.TaskEvents(ctx, task.ID) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Type, e.Status)
	}
	// Output:
	// created pending
	// started running
	// succeeded succeeded
}

// List the dead letters, a page at a time behind the scenes.
func ExampleClient_ListTasks() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("BOOMERANG_URL"), os.Getenv("BOOMERANG_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	dead := client.ListOptions{Filter: client.Filter{Webhook: client.WebhookDead}}
	n := 0
	for task, err := range c.ListTasks(ctx, dead) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(task.ID, task.Webhook.Deliveries[len(task.Webhook.Deliveries)-1].StatusCode)
		n++
	}
	fmt.Println(n, "dead letters")
	// Output:
	// 0 dead letters
}

// Problems are typed: branch on their kind.
func ExampleProblem() {
	c, err := client.New(os.Getenv("BOOMERANG_URL"), os.Getenv("BOOMERANG_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.GetTask(context.Background(), "tsk_0000000000000000000000000")
	var p *client.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Kind(), p.Kind() == client.KindNotFound)
	}
	_, err = c.CreateTask(context.Background(), "ftp://example.com/file")
	if errors.As(err, &p) {
		fmt.Println(p.Status, p.Kind(), p.Errors[0].Field)
	}
	// Output:
	// 404 not-found true
	// 400 validation targetUrl
}

// A key that may only read tasks, for a dashboard of your own.
func ExampleClient_CreateKey() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("BOOMERANG_URL"), os.Getenv("BOOMERANG_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	key, err := c.CreateKey(ctx, "reporting", client.ScopeTasksRead)
	if err != nil {
		log.Fatal(err)
	}
	reader, err := client.New(c.BaseURL(), key.APIKey)
	if err != nil {
		log.Fatal(err)
	}
	_, err = reader.CreateTask(ctx, "https://api.example.com/")
	var p *client.Problem
	if errors.As(err, &p) {
		fmt.Println(p.Kind(), p.Scope)
	}
	if err := c.RevokeKey(ctx, key.ID); err != nil {
		log.Fatal(err)
	}
	// Output:
	// insufficient-scope tasks:write
}
