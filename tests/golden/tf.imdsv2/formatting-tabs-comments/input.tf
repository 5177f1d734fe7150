resource "aws_instance" "web" {
	ami = "ami-123" # comment
	user_data = <<-EOT
		echo hi
	EOT
	// last
}