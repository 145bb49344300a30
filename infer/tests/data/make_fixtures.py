# Writes the IR fixtures of infer tests: python3 make_fixtures.py infer/tests/data
import json, sys, os
OUT = sys.argv[1]

class D:
    def __init__(self, file, level, title=None, name=None):
        self.d = {"file": file, "title": title, "level": level, "elements": [], "boundaries": [], "relationships": []}
        if name: self.d["name"] = name
        self.line = 1
    def el(self, alias, kind, name, tech="", descr="", ext=False, shape="default", parent=None, line=None, tags=()):
        self.d["elements"].append({"alias": alias, "kind": kind, "external": ext, "shape": shape, "name": name,
            "technology": tech, "description": descr, "tags": list(tags), "sprite": "", "link": "",
            "parent": parent, "span": {"line": line or 0, "column": 1}})
    def b(self, alias, kind, label, tech="", descr="", parent=None, line=0):
        self.d["boundaries"].append({"alias": alias, "kind": kind, "label": label, "technology": tech,
            "description": descr, "parent": parent, "tags": [], "span": {"line": line, "column": 1}})
    def r(self, frm, to, label, tech="", index=None, line=0, descr=""):
        self.d["relationships"].append({"from": frm, "to": to, "label": label, "technology": tech,
            "description": descr, "index": index, "bidirectional": False, "direction": None, "tags": [],
            "link": "", "span": {"line": line, "column": 1}})

def save(name, *diagrams):
    with open(os.path.join(OUT, name + ".model.json"), "w") as f:
        json.dump({"diagrams": [d.d for d in diagrams], "diagnostics": []}, f, indent=2)
        f.write("\n")

# container
d = D("C4_Container Diagram Sample - bigbankplc.puml", "container", "Container diagram for Internet Banking System")
d.el("customer", "person", "Customer", descr="A customer of the bank, with personal bank accounts", line=12)
d.b("c1", "system_boundary", "Internet Banking", line=14)
d.el("web_app", "container", "Web Application", "Java, Spring MVC", "Delivers the static content and the Internet banking SPA", parent="c1", line=15)
d.el("spa", "container", "Single-Page App", "JavaScript, Angular", "Provides all the Internet banking functionality to customers via their web browser", parent="c1", line=16)
d.el("mobile_app", "container", "Mobile App", "C#, Xamarin", "Provides a limited subset of the Internet banking functionality to customers via their mobile device", parent="c1", line=17)
d.el("database", "container", "Database", "SQL Database", "Stores user registration information, hashed auth credentials, access logs, etc.", shape="database", parent="c1", line=18)
d.el("backend_api", "container", "API Application", "Java, Docker Container", "Provides Internet banking functionality via API", parent="c1", line=19)
d.el("email_system", "system", "E-Mail System", descr="The internal Microsoft Exchange system", ext=True, line=22)
d.el("banking_system", "system", "Mainframe Banking System", descr="Stores all of the core banking information about customers, accounts, transactions, etc.", ext=True, line=23)
d.r("customer", "web_app", "Uses", "HTTPS", line=25)
d.r("customer", "spa", "Uses", "HTTPS", line=26)
d.r("customer", "mobile_app", "Uses", line=27)
d.r("web_app", "spa", "Delivers", line=29)
d.r("spa", "backend_api", "Uses", "async, JSON/HTTPS", line=30)
d.r("mobile_app", "backend_api", "Uses", "async, JSON/HTTPS", line=31)
d.r("database", "backend_api", "Reads from and writes to", "sync, JDBC", line=32)
d.r("customer", "email_system", "Sends e-mails to", line=34)
d.r("email_system", "backend_api", "Sends e-mails using", "sync, SMTP", line=35)
d.r("backend_api", "banking_system", "Uses", "sync/async, XML/HTTPS", line=36)
save("container", d)
container_d = d

# component
d = D("C4_Component Diagram Sample - bigbankplc.puml", "component", "Component diagram for Internet Banking System - API Application")
d.el("spa", "container", "Single Page Application", "javascript and angular", "Provides all the internet banking functionality to customers via their web browser.", line=11)
d.el("ma", "container", "Mobile App", "Xamarin", "Provides a limited subset ot the internet banking functionality to customers via their mobile mobile device.", line=12)
d.el("db", "container", "Database", "Relational Database Schema", "Stores user registration information, hashed authentication credentials, access logs, etc.", shape="database", line=13)
d.el("mbs", "system", "Mainframe Banking System", descr="Stores all of the core banking information about customers, accounts, transactions, etc.", ext=True, line=14)
d.b("api", "container_boundary", "API Application", line=16)
d.el("sign", "component", "Sign In Controller", "MVC Rest Controller", "Allows users to sign in to the internet banking system", parent="api", line=17)
d.el("accounts", "component", "Accounts Summary Controller", "MVC Rest Controller", "Provides customers with a summary of their bank accounts", parent="api", line=18)
d.el("security", "component", "Security Component", "Spring Bean", "Provides functionality related to singing in, changing passwords, etc.", parent="api", line=19)
d.el("mbsfacade", "component", "Mainframe Banking System Facade", "Spring Bean", "A facade onto the mainframe banking system.", parent="api", line=20)
d.r("sign", "security", "Uses", line=22)
d.r("accounts", "mbsfacade", "Uses", line=23)
d.r("security", "db", "Read & write to", "JDBC", line=24)
d.r("mbsfacade", "mbs", "Uses", "XML/HTTPS", line=25)
d.r("spa", "sign", "Uses", "JSON/HTTPS", line=28)
d.r("spa", "accounts", "Uses", "JSON/HTTPS", line=29)
d.r("ma", "sign", "Uses", "JSON/HTTPS", line=31)
d.r("ma", "accounts", "Uses", "JSON/HTTPS", line=32)
save("component", d)
component_d = d

# dynamic
d = D("C4_Dynamic Diagram Sample - bigbankplc.puml", "dynamic")
d.el("c4", "container", "Database", "Relational Database Schema", "Stores user registration information, hashed authentication credentials, access logs, etc.", shape="database", line=6)
d.el("c1", "container", "Single-Page Application", "JavaScript and Angular", "Provides all of the Internet banking functionality to customers via their web browser.", line=7)
d.b("b", "container_boundary", "API Application", line=8)
d.el("c3", "component", "Security Component", "Spring Bean", "Provides functionality Related to signing in, changing passwords, etc.", parent="b", line=9)
d.el("c2", "component", "Sign In Controller", "Spring MVC Rest Controller", "Allows users to sign in to the Internet Banking System.", parent="b", line=10)
d.r("c1", "c2", "Submits credentials to", "JSON/HTTPS", index="1", line=12)
d.r("c2", "c3", "Calls isAuthenticated() on", index="2", line=13)
d.r("c3", "c4", "select * from users where username = ?", "JDBC", index="3", line=14)
save("dynamic", d)
dynamic_d = d

# deployment
d = D("C4_Deployment Diagram Sample - bigbankplc.puml", "deployment", "Deployment Diagram for Internet Banking System - Live")
d.b("plc", "deployment_node", "Big Bank plc", "Big Bank plc data center", line=13)
d.b("dn", "deployment_node", "bigbank-api***\\tx8", "Ubuntu 16.04 LTS", parent="plc", line=14)
d.b("apache", "deployment_node", "Apache Tomcat", "Apache Tomcat 8.x", parent="dn", line=15)
d.el("api", "container", "API Application", "Java and Spring MVC", "Provides Internet Banking functionality via a JSON/HTTPS API.", parent="apache", line=16)
d.b("bigbankdb01", "deployment_node", "bigbank-db01", "Ubuntu 16.04 LTS", parent="plc", line=19)
d.b("oracle", "deployment_node", "Oracle - Primary", "Oracle 12c", parent="bigbankdb01", line=20)
d.el("db", "container", "Database", "Relational Database Schema", "Stores user registration information, hashed authentication credentials, access logs, etc.", shape="database", parent="oracle", line=21)
d.b("bigbankdb02", "deployment_node", "bigbank-db02", "Ubuntu 16.04 LTS", parent="plc", line=24)
d.b("oracle2", "deployment_node", "Oracle - Secondary", "Oracle 12c", parent="bigbankdb02", line=25)
d.el("db2", "container", "Database", "Relational Database Schema", "Stores user registration information, hashed authentication credentials, access logs, etc.", shape="database", parent="oracle2", line=26, tags=["fallback"])
d.b("bb2", "deployment_node", "bigbank-web***\\tx4", "Ubuntu 16.04 LTS", parent="plc", line=29)
d.b("apache2", "deployment_node", "Apache Tomcat", "Apache Tomcat 8.x", parent="bb2", line=30)
d.el("web", "container", "Web Application", "Java and Spring MVC", "Delivers the static content and the Internet Banking single page application.", parent="apache2", line=31)
d.b("mob", "deployment_node", "Customer's mobile device", "Apple IOS or Android", line=36)
d.el("mobile", "container", "Mobile App", "Xamarin", "Provides a limited subset of the Internet Banking functionality to customers via their mobile device.", parent="mob", line=37)
d.b("comp", "deployment_node", "Customer's computer", "Microsoft Windows or Apple macOS", line=40)
d.b("browser", "deployment_node", "Web Browser", "Google Chrome, Mozilla Firefox, Apple Safari or Microsoft Edge", parent="comp", line=41)
d.el("spa", "container", "Single Page Application", "JavaScript and Angular", "Provides all of the Internet Banking functionality to customers via their web browser.", parent="browser", line=42)
d.r("mobile", "api", "Makes API calls to", "json/HTTPS", line=46)
d.r("spa", "api", "Makes API calls to", "json/HTTPS", line=47)
d.r("web", "spa", "Delivers to the customer's web browser", line=48)
d.r("api", "db", "Reads from and writes to", "JDBC", line=49)
d.r("api", "db2", "Reads from and writes to", "JDBC", line=50)
d.r("db", "db2", "Replicates data to", line=51)
save("deployment", d)

# context
d = D("C4_Context Diagram Sample - bigbankplc.puml", "context", "System Context diagram for Internet Banking System")
d.el("customer", "person", "Personal Banking Customer", descr="A customer of the bank, with personal bank accounts.", line=6)
d.el("banking_system", "system", "Internet Banking System", descr="Allows customers to view information about their bank accounts, and make payments.", line=7)
d.el("mail_system", "system", "E-mail system", descr="The internal Microsoft Exchange e-mail system.", ext=True, line=8)
d.el("mainframe", "system", "Mainframe Banking System", descr="Stores all of the core banking information about customers, accounts, transactions, etc.", ext=True, line=9)
d.r("customer", "banking_system", "Uses", line=11)
d.r("mail_system", "customer", "Sends e-mails to", line=12)
d.r("banking_system", "mail_system", "Sends e-mails", "SMTP", line=13)
d.r("banking_system", "mainframe", "Uses", line=14)
save("context", d)

# message bus
d = D("C4_Container Diagram Sample - message bus.puml", "container", name="messagebus")
d.el("customer", "person", "Customer", descr="A customer", line=10)
d.b("c1", "system_boundary", "Customer Information", line=12)
d.el("app", "container", "Customer Application", "Javascript, Angular", "Allows customers to manage their profile", parent="c1", line=13)
d.el("customer_service", "container", "Customer Service", "Java, Spring Boot", "The point of access for customer information", parent="c1", line=14, tags=["microService"])
d.el("message_bus", "container", "Message Bus", "RabbitMQ", "Transport for business events", parent="c1", line=15)
d.el("reporting_service", "container", "Reporting Service", "Ruby", "Creates normalised data for reporting purposes", parent="c1", line=16, tags=["microService"])
d.el("audit_service", "container", "Audit Service", "C#/.NET", "Provides organisation-wide auditing facilities", parent="c1", line=17, tags=["microService"])
d.el("customer_db", "container", "Customer Database", "Oracle 12c", "Stores customer information", shape="database", parent="c1", line=18, tags=["storage"])
d.el("reporting_db", "container", "Reporting Database", "MySQL", "Stores a normalized version of all business data for ad hoc reporting purposes", shape="database", parent="c1", line=19, tags=["storage"])
d.el("audit_store", "container", "Audit Store", "Event Store", "Stores information about events that have happened", parent="c1", line=20, tags=["storage"])
d.r("customer", "app", "Uses", "HTTPS", line=23)
d.r("app", "customer_service", "Updates customer information using", "async, JSON/HTTPS", line=25)
d.r("customer_service", "app", "Sends events to", "WebSocket", line=27)
d.r("customer_service", "message_bus", "Sends customer update events to", line=28)
d.r("customer_service", "customer_db", "Stores data in", "JDBC", line=29)
d.r("message_bus", "reporting_service", "Sends customer update events to", line=31)
d.r("message_bus", "audit_service", "Sends customer update events to", line=32)
d.r("reporting_service", "reporting_db", "Stores data in", line=34)
d.r("audit_service", "audit_store", "Stores events in", line=35)
save("message_bus", d)

# odd names and every technology
d = D("odd/../../names.puml", "container", "Ödd «names» & every technology: \"quotes\" \\ backslash")
d.el("class", "person", "class", descr="A person whose alias is a Python keyword", line=3)
d.b("sys", "system_boundary", "import", line=4)
d.el("1st", "container", "1st Service", "Python, FastAPI", "Starts with a digit\nand has a newline", parent="sys", line=5)
d.el("svc_dup", "container", "1st-Service", "gRPC", "Collides with 1st Service", parent="sys", line=6)
d.el("uni", "container", "Bücher日本 Dienst", "Kafka", "Kafka producer service", parent="sys", line=7)
d.el("sink", "container", "../../etc/passwd", "", "Path traversal name", parent="sys", line=8)
d.el("cache", "container", "Session Cache", "Redis", "A Redis cache", parent="sys", line=9)
d.el("q", "container", "Orders", "Kafka", "A Kafka topic", shape="queue", parent="sys", line=10)
d.el("empty", "container", "", "", "", parent="sys", line=11)
d.el("ext_db", "container", "Partner DB", "PostgreSQL", "An external database", ext=True, shape="database", line=12)
d.el("ext_api", "system", "None", "", "External named None", ext=True, line=13)
d.r("class", "1st", "def", "HTTPS", line=20)
d.r("class", "1st", "def", "HTTPS", line=21)
d.r("1st", "svc_dup", "Lookup", "gRPC", line=22)
d.r("1st", "uni", "Publishes orders", "Kafka", line=23)
d.r("uni", "q", "Emits orders to", line=24)
d.r("q", "sink", "Delivers orders to", line=25)
d.r("1st", "cache", "Caches sessions in", "Redis", line=26)
d.r("1st", "ext_db", "Reads partners from", "SQL", line=27)
d.r("1st", "ext_api", "return", "", line=28)
d.r("1st", "ext_api", "Notifies", "SOAP over AS2", line=29)
d.r("1st", "ext_api", "Sends faxes", "Fax", line=30)
d.r("sink", "1st", "Calls back", "AMQP", line=31)
d.r("empty", "ghost", "Talks to a missing alias", "HTTP", line=32)
d.r("1st", "sys", "Targets a boundary", "HTTP", line=33)
d.r("1st", "empty", "import", "HTTP", line=34)
d.b("cb", "container_boundary", "Reserved Words", parent="sys", line=40)
d.el("consumers", "component", "Consumers", "Python", "Named like the Dependencies API", parent="cb", line=41)
d.el("closer", "component", "close", "Python", "Named like a method", parent="cb", line=42)
d.r("consumers", "closer", "aclose", line=43)
d.r("closer", "consumers", "run", line=44)
d.r("class", "consumers", "Settings", "HTTPS", line=45)
save("odd_names", d)

# HTTP verbs (method and path from the label) and gRPC between our containers
d = D("shop.puml", "container", "Web shop")
d.el("customer", "person", "Customer", descr="Buys things", line=3)
d.el("admin", "person", "Shop Admin", descr="Keeps the catalog right", line=4)
d.b("shop", "system_boundary", "Shop", line=5)
d.el("web", "container", "Web Shop", "Python, FastAPI", "Pages and basket", parent="shop", line=6)
d.el("orders", "container", "Order Service", "Python, FastAPI", "Takes and tracks orders", parent="shop", line=7)
d.el("catalog", "container", "Catalog Service", "Python, gRPC", "Products, prices and stock", parent="shop", line=8)
d.el("payments", "system", "Payment Provider", descr="Takes card payments", ext=True, line=9)
d.r("customer", "web", "Uses", "HTTPS", line=11)
d.r("web", "orders", "Places orders with", "JSON/HTTPS", line=12)
d.r("web", "orders", "Lists orders of", "JSON/HTTPS", line=13)
d.r("web", "orders", "Cancels orders in", "JSON/HTTPS", line=14)
d.r("web", "orders", "Gets orders from", "JSON/HTTPS", line=15)
d.r("web", "catalog", "Looks up products in", "JSON/HTTPS", line=16)
d.r("web", "catalog", "Updates prices in", "HTTPS", line=17)
d.r("admin", "catalog", "Changes stock levels in", "HTTPS", line=18)
d.r("orders", "payments", "Submits payments to", "JSON/HTTPS", line=19)
d.r("orders", "payments", "Fetches payment status from", "HTTPS", line=20)
d.r("orders", "catalog", "Reserves stock via", "gRPC", line=21)
d.r("orders", "catalog", "Reads product prices from", "gRPC", line=22)
save("shop", d)

# several diagrams of one system in one model (as `convert a.puml b.puml` parses them):
# the component diagram's boundary "API Application" is the container backend_api.
save("multi", container_d, component_d, dynamic_d)
