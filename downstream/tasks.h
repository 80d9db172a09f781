// INTERIM (lead's placeholder until the tasks branch lands).
#pragma once
#include <map>
#include <string>
#include <vector>
namespace t5 {
struct TaskExample { std::string inputs; std::string targets; };
std::vector<TaskExample> read_task_split(const std::string& path);
struct TaskInfo { std::string name; std::vector<std::string> metrics; std::string primary_metric; bool higher_is_better = true; };
TaskInfo task_info(const std::string& name);
std::map<std::string, double> score_task(const std::string& task, const std::vector<std::string>& predictions,
                                         const std::vector<std::string>& targets);
}  // namespace t5
